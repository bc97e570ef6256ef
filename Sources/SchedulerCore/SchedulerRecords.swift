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
    /// Toolchains it is known to hold, learned from `assign_job` answers and completed uploads.
    public var toolchains: Set<String> = []

    public var jobCap: Int { SchedulingPolicy.jobCap(cores: numCPUs) }
}

/// A job between `alloc_job` and `Complete`.
public struct JobRecord<Instant: InstantProtocol & Sendable>: Sendable {
    public var id: JobID
    public var server: ServerID
    public var toolchain: String
    /// Nil while `assign_job` is in flight.
    public var state: JobState?
    /// When the job was created; jobs not yet Started expire from here.
    public var created: Instant
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
