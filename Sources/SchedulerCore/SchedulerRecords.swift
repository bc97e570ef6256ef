import KilnProtocol

/// What the scheduler knows about one build server.
public struct ServerRecord<Instant: InstantProtocol & Sendable>: Sendable {
    public var id: ServerID
    public var nonce: ServerNonce
    public var numCPUs: Int
    public var jwtKey: [UInt8]
    public var certDigest: [UInt8]
    public var certPEM: [UInt8]
    public var lastSeen: Instant
    /// When its last `assign_job` failed; cleared after the quarantine.
    public var lastError: Instant?
    /// Its `assign_job` failed and it has not heartbeated since: it may be dead, so it gets no job.
    public var unreachable = false
    /// Toolchains it is known to hold, learned from `assign_job` answers and completed uploads.
    /// Bounded by ``SchedulingPolicy/maxToolchainsPerServer``.
    public private(set) var toolchains: Set<String> = []
    /// The same, oldest learned first.
    private var learningOrder: [String] = []

    init(id: ServerID, nonce: ServerNonce, numCPUs: Int, jwtKey: [UInt8], certDigest: [UInt8], certPEM: [UInt8], lastSeen: Instant) {
        self.id = id
        self.nonce = nonce
        self.numCPUs = numCPUs
        self.jwtKey = jwtKey
        self.certDigest = certDigest
        self.certPEM = certPEM
        self.lastSeen = lastSeen
    }

    public var jobCap: Int { SchedulingPolicy.jobCap(cores: numCPUs) }

    /// Whether it is known to hold `toolchain`.
    public func holds(_ toolchain: String) -> Bool { toolchains.contains(toolchain) }

    /// Remembers that it holds `toolchain`, forgetting the oldest learned beyond `limit`.
    public mutating func learn(_ toolchain: String, limit: Int) {
        guard toolchains.insert(toolchain).inserted else { return }
        learningOrder.append(toolchain)
        while learningOrder.count > max(limit, 1) { toolchains.remove(learningOrder.removeFirst()) }
    }
}

/// Who asked for a job: the farm serves sccache clients and Remote Execution API actions from the same slots.
public enum JobKind: String, CaseIterable, Sendable, Hashable, Codable {
    /// An sccache client's `alloc_job`.
    case sccache
    /// A REAPI `Execute` the scheduler placed itself.
    case remoteAction = "reapi"
}

/// A job between `alloc_job` and `Complete`.
public struct JobRecord<Instant: InstantProtocol & Sendable>: Sendable {
    public var id: JobID
    public var server: ServerID
    public var toolchain: String
    public var kind: JobKind = .sccache
    /// Nil while `assign_job` is in flight.
    public var state: JobState?
    /// When the job was created; jobs not yet Started expire from here.
    public var created: Instant
    /// When it was reported Started; its lease runs from here.
    public var started: Instant? = nil
}

/// The outcome of a heartbeat.
public struct HeartbeatOutcome: Sendable, Hashable {
    /// First heartbeat of this server process (a new server, or a restart with a new nonce).
    public var isNew: Bool
    /// The certificate differs from the one held before: anything pinned to the old one must be rebuilt.
    public var certificateChanged: Bool
    /// Jobs dropped because the server restarted.
    public var droppedJobs: [JobID]
    /// The server is new and the farm has ``SchedulingPolicy/maxServers`` already: it was not registered.
    public var refused = false
}

/// Where `alloc_job` should go.
public enum AllocationDecision: Sendable, Hashable {
    /// Ask `server` to take `job`; `jwtKey` signs the job token, `certPEM` pins the HTTPS call.
    case assign(job: JobID, server: ServerID, jwtKey: [UInt8], certPEM: [UInt8], certDigest: [UInt8])
    /// No server has room: answer `Fail` so the client compiles locally.
    case noCapacity(message: String)
}

/// Why a `job_state` update is refused (the answer is a 500 with this description, protocol §2.5).
public enum JobStateRejection: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownJob
    case wrongServer
    case illegalTransition(from: JobState?, to: JobState)

    public var description: String {
        switch self {
        case .unknownJob: return "Unknown job"
        case .wrongServer: return "Job is not assigned to this server"
        case .illegalTransition(let from, let to):
            return "Invalid job state transition from \(from.map(String.init(describing:)) ?? "unassigned") to \(to)"
        }
    }
}
