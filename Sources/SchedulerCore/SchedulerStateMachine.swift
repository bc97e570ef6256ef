import KilnProtocol

/// Every scheduling decision, with no I/O: the service feeds it events with the current instant of its clock
/// and carries out what it returns. Generic over the clock so tests drive time with a mock clock.
///
/// Housekeeping (dead-server pruning, stale-job expiry) is checked on **every** event, `alloc_job` included;
/// upstream prunes only on heartbeats and status requests, so it could hand jobs to a server dead for minutes.
/// The tables are swept only once the earliest of their deadlines has passed (every change that can bring a
/// deadline closer moves that instant), so an event costs no walk over every job.
public struct SchedulerStateMachine<C: Clock>: Sendable where C.Duration == Duration, C.Instant: Sendable {
    public typealias Instant = C.Instant

    public private(set) var servers: [ServerID: ServerRecord<Instant>] = [:]
    public private(set) var jobs: [JobID: JobRecord<Instant>] = [:]
    /// Jobs dropped unfinished so far (their server died or restarted, or they never started in time).
    public private(set) var droppedJobCount = 0
    public let policy: SchedulingPolicy
    /// No server, job or quarantine expires up to this instant; nil: sweep at the next event.
    private var quietUntil: Instant?

    public init(policy: SchedulingPolicy = SchedulingPolicy()) {
        self.policy = policy
    }

    // MARK: housekeeping

    /// Drops servers silent for longer than the heartbeat timeout (with their jobs), jobs that were never started
    /// in time or whose lease ran out, and quarantines that are over. Returns the servers removed.
    @discardableResult
    public mutating func housekeep(now: Instant) -> [ServerID] {
        if let quietUntil, now <= quietUntil { return [] }
        defer { quietUntil = earliestDeadline() }
        let dead = servers.values.filter { $0.lastSeen.duration(to: now) > policy.heartbeatTimeout }.map(\.id)
        for id in dead { servers[id] = nil }
        let before = jobs.count
        jobs = jobs.filter { _, job in servers[job.server] != nil && now <= deadline(of: job) }
        droppedJobCount += before - jobs.count
        for (id, server) in servers {
            if let error = server.lastError, error.duration(to: now) > policy.errorQuarantine {
                servers[id]?.lastError = nil
            }
        }
        return dead.sorted()
    }

    /// The instant after which ``housekeep(now:)`` drops a job.
    private func deadline(of job: JobRecord<Instant>) -> Instant {
        switch job.state {
        // nil: assign_job never answered (it has its own deadline, far shorter).
        case nil, .pending: job.created.advanced(by: policy.unstartedJobTimeout)
        case .ready: job.created.advanced(by: min(policy.readyJobExpiry, policy.unstartedJobTimeout))
        case .started, .complete: (job.started ?? job.created).advanced(by: policy.jobLease)
        }
    }

    /// The earliest instant after which ``housekeep(now:)`` would change something; nil when nothing can expire.
    private func earliestDeadline() -> Instant? {
        let servers = servers.values.flatMap { server in
            [server.lastSeen.advanced(by: policy.heartbeatTimeout)] + (server.lastError.map { [$0.advanced(by: policy.errorQuarantine)] } ?? [])
        }
        return (servers + jobs.values.map(deadline(of:))).min()
    }

    /// Records a deadline that may come before the next sweep.
    private mutating func expect(_ deadline: Instant) {
        if let quietUntil, deadline < quietUntil { self.quietUntil = deadline }
    }

    /// Stores `job` and notes its deadline.
    private mutating func store(_ job: JobRecord<Instant>) {
        jobs[job.id] = job
        expect(deadline(of: job))
    }

    // MARK: events

    /// A heartbeat from `id`, already authenticated.
    @discardableResult
    public mutating func heartbeat(from id: ServerID, _ request: HeartbeatServerHttpRequest, now: Instant) -> HeartbeatOutcome {
        housekeep(now: now)
        guard var server = servers[id], server.nonce == request.serverNonce else {
            if servers[id] == nil, servers.count >= policy.maxServers {
                return HeartbeatOutcome(isNew: false, certificateChanged: false, droppedJobs: [], refused: true)
            }
            // New server, or the same address with a new process: forget everything about the old one.
            let dropped = jobs.values.filter { $0.server == id }.map(\.id).sorted()
            for job in dropped { jobs[job] = nil }
            droppedJobCount += dropped.count
            let previous = servers[id]
            servers[id] = ServerRecord(
                id: id, nonce: request.serverNonce, numCPUs: SchedulingPolicy.clampedCPUs(request.numCPUs), jwtKey: request.jwtKey,
                certDigest: request.certDigest, certPEM: request.certPEM, lastSeen: now)
            expect(now.advanced(by: policy.heartbeatTimeout))
            return HeartbeatOutcome(isNew: true, certificateChanged: previous?.certDigest != request.certDigest, droppedJobs: dropped)
        }
        let changed = server.certDigest != request.certDigest
        server.lastSeen = now
        server.unreachable = false
        server.numCPUs = SchedulingPolicy.clampedCPUs(request.numCPUs)
        server.jwtKey = request.jwtKey
        server.certDigest = request.certDigest
        server.certPEM = request.certPEM
        servers[id] = server
        return HeartbeatOutcome(isNew: false, certificateChanged: changed, droppedJobs: [])
    }

    /// Chooses a server for a job on `toolchain` and records the job under `jobID` (the caller's never-repeating
    /// counter). Prefers, in order: servers without a recent error, servers that hold the toolchain, the lowest
    /// load. A server at its cap (cores + 1 + cores/8 jobs) is never chosen, nor one that missed a heartbeat or whose
    /// last `assign_job` failed since its last heartbeat.
    /// Servers in `excluding` are never chosen (they refused this job's platform already).
    public mutating func allocate(
        jobID: JobID, toolchain: String, kind: JobKind = .sccache, excluding: Set<ServerID> = [], now: Instant
    ) -> AllocationDecision {
        housekeep(now: now)
        guard jobs.count < policy.maxJobs else {
            return .noCapacity(message: "Insufficient capacity: the farm has \(jobs.count) jobs in flight, the most it keeps")
        }
        let load = jobsPerServer()
        let candidates = servers.values.filter { server in
            (load[server.id] ?? 0) < server.jobCap && !server.unreachable && server.lastSeen.duration(to: now) <= policy.heartbeatMissed
                && !excluding.contains(server.id)
        }
        let best = candidates.min { lhs, rhs in
            // Rank 0 is best: healthy with the toolchain; 3 is quarantined without it.
            let left = (lhs.lastError != nil ? 2 : 0) + (lhs.holds(toolchain) ? 0 : 1)
            let right = (rhs.lastError != nil ? 2 : 0) + (rhs.holds(toolchain) ? 0 : 1)
            if left != right { return left < right }
            if let leftError = lhs.lastError, let rightError = rhs.lastError, leftError != rightError {
                return leftError < rightError  // among quarantined servers, the oldest error first
            }
            let leftLoad = Double(load[lhs.id] ?? 0) / Double(max(lhs.numCPUs, 1))
            let rightLoad = Double(load[rhs.id] ?? 0) / Double(max(rhs.numCPUs, 1))
            return leftLoad != rightLoad ? leftLoad < rightLoad : lhs.id < rhs.id
        }
        guard let server = best else {
            return .noCapacity(message: "Insufficient capacity across \(servers.count) available servers")
        }
        store(JobRecord(id: jobID, server: server.id, toolchain: toolchain, kind: kind, state: nil, created: now))
        return .assign(job: jobID, server: server.id, jwtKey: server.jwtKey, certPEM: server.certPEM, certDigest: server.certDigest)
    }

    /// The server accepted the job; `result` is its `AssignJobResult`.
    public mutating func assignSucceeded(job: JobID, result: AssignJobResult, now: Instant) {
        guard var record = jobs[job] else { return }
        record.state = result.state
        store(record)
        let limit = policy.maxToolchainsPerServer
        if !result.needToolchain { servers[record.server]?.learn(record.toolchain, limit: limit) }
    }

    /// `assign_job` failed: drop the job and quarantine the server (no job until its next heartbeat, then a last
    /// resort).
    /// The placer gave the job up while `assign_job` was in flight (its own client went away): the job is dropped
    /// and the server, which did nothing wrong, keeps its standing.
    public mutating func assignAbandoned(job: JobID) {
        jobs.removeValue(forKey: job)
    }

    public mutating func assignFailed(job: JobID, now: Instant) {
        guard let record = jobs.removeValue(forKey: job) else { return }
        servers[record.server]?.lastError = now
        servers[record.server]?.unreachable = true
        expect(now.advanced(by: policy.errorQuarantine))
    }

    /// A `job_state` report from `server`. Only Pending→Ready, Ready→Started and Started→Complete are allowed, and
    /// Ready→Complete from a Kiln build server that says when the job started (`startedAgo`,
    /// ``DeferredStartedReport``); Complete removes the job. Returns how long ago the job was allocated.
    @discardableResult
    public mutating func updateJobState(
        job: JobID, to state: JobState, from server: ServerID, now: Instant, startedAgo: Duration? = nil
    ) throws(JobStateRejection)
        -> Duration
    {
        housekeep(now: now)
        guard var record = jobs[job] else { throw .unknownJob }
        guard record.server == server else { throw .wrongServer }
        switch (record.state, state) {
        case (.pending, .ready), (.ready, .started):
            record.state = state
            // Never before the job was allocated: the lease runs from here.
            if state == .started { record.started = max(record.created, now.advanced(by: .zero - (startedAgo ?? .zero))) }
            store(record)
            let limit = policy.maxToolchainsPerServer
            if state == .ready { servers[server]?.learn(record.toolchain, limit: limit) }
        case (.started, .complete):
            jobs[job] = nil
        case (.ready, .complete) where startedAgo != nil:
            jobs[job] = nil
        default:
            throw .illegalTransition(from: record.state, to: state)
        }
        return record.created.duration(to: now)
    }

    // MARK: queries

    public func status() -> SchedulerStatusResult {
        SchedulerStatusResult(numServers: servers.count, numCPUs: servers.values.reduce(0) { $0 + $1.numCPUs }, inProgress: jobs.count)
    }

    public func certificate(of server: ServerID) -> ServerCertificateHttpResponse? {
        servers[server].map { ServerCertificateHttpResponse(certDigest: $0.certDigest, certPEM: $0.certPEM) }
    }

    /// Jobs assigned to each server and not yet Complete.
    public func jobsPerServer() -> [ServerID: Int] {
        jobs.values.reduce(into: [:]) { $0[$1.server, default: 0] += 1 }
    }
}
