import Foundation
import KilnAuth
import KilnConfiguration
import KilnMetrics
import KilnProtocol
import Logging
import Metrics
import SchedulerCore

/// The scheduler's state and effects: owns the pure ``SchedulerStateMachine``, the job-id sequence and the
/// per-server token signers, and carries out what the machine decides. Every decision reads `clock`; the phase
/// timers of ``SchedulerMetrics`` measure real time.
actor Scheduler<C: Clock<Duration>> {
    private var machine: SchedulerStateMachine<C>
    private let clock: C
    private var jobIDs: JobIDSequence
    private var signers: [ServerID: (key: [UInt8], authority: HS256Authority)] = [:]
    private let assignClient: AssignJobClient
    private let logger: Logger
    private let metrics: SchedulerMetrics
    private var failures = RecentFailures()
    /// Dropped jobs already counted in ``metrics``.
    private var droppedCounted = 0

    /// The answer to `alloc_job`, or why the farm could not place the job (a 500: compile locally).
    enum Allocation {
        case response(AllocJobHttpResponse)
        case failed(String)
    }

    init(configuration: SchedulerConfiguration, logger: Logger, metrics: SchedulerMetrics, clock: C) throws {
        self.clock = clock
        jobIDs = try JobIDSequence(stateDirectory: configuration.stateDirectory)
        assignClient = AssignJobClient(timeoutSeconds: configuration.assignJobTimeoutSeconds)
        var policy = SchedulingPolicy()
        policy.unstartedJobTimeout = .seconds(configuration.unstartedJobTimeoutSeconds)
        policy.jobLease = .seconds(configuration.jobLeaseSeconds)
        machine = SchedulerStateMachine(policy: policy)
        self.logger = logger
        self.metrics = metrics
    }

    /// The status page's data; also sets the gauges (the page and `/metrics` read the same state).
    func report() -> SchedulerStatusReport {
        let farm = machine.overview(now: clock.now)
        countDroppedJobs()
        metrics.serversKnown.record(farm.servers.count)
        metrics.slotsBusy.record(farm.slotsBusy)
        metrics.slotsTotal.record(farm.slotsTotal)
        metrics.jobsInFlight.record(farm.jobsInFlight)
        metrics.recordInFlight(byKind: farm.jobsByKind)
        return SchedulerStatusReport(
            generatedAt: Date().formatted(.iso8601), farm: farm, jobsInFlight: farm.jobsInFlight, recentFailures: failures.newestFirst)
    }

    /// A heartbeat the controller refused.
    func refusedHeartbeat(_ what: String, from server: ServerID) {
        metrics.count(.refused)
        failures.record("refused \(what)", server: "\(server)")
    }

    private func countDroppedJobs() {
        let dropped = machine.droppedJobCount - droppedCounted
        guard dropped > 0 else { return }
        metrics.count(.dropped, by: dropped)
        failures.record("\(dropped) job\(dropped == 1 ? "" : "s") dropped unfinished (server gone or restarted, never started, or lease over)")
        droppedCounted = machine.droppedJobCount
    }

    func status() -> SchedulerStatusResult {
        machine.housekeep(now: clock.now)
        return machine.status()
    }

    func certificate(of server: ServerID) -> ServerCertificateHttpResponse? {
        machine.housekeep(now: clock.now)
        return machine.certificate(of: server)
    }

    /// How many registered servers are not among `servers` (a job refused by those may still find one).
    func serversBeside(_ servers: some Collection<ServerID>) -> Int {
        machine.housekeep(now: clock.now)
        return machine.servers.keys.filter { !servers.contains($0) }.count
    }

    /// True when `server` is registered with this nonce: its heartbeat may then report no CPUs (a drain).
    func isRegistered(_ server: ServerID, nonce: ServerNonce) -> Bool { machine.servers[server]?.nonce == nonce }

    /// nil: a new server, refused because the farm has the most servers it keeps.
    func heartbeat(from server: ServerID, _ request: HeartbeatServerHttpRequest) async -> HeartbeatServerResult? {
        let outcome = machine.heartbeat(from: server, request, now: clock.now)
        if outcome.refused {
            refusedHeartbeat("a new server beyond the \(machine.policy.maxServers) registered", from: server)
            return nil
        }
        metrics.count(outcome.isNew ? .registered : .renewed)
        countDroppedJobs()
        if signers[server]?.key != request.jwtKey {
            signers[server] = (request.jwtKey, await HS256Authority(key: request.jwtKey))
        }
        signers = signers.filter { machine.servers[$0.key] != nil }  // forget signers of pruned servers
        if outcome.isNew {
            logger.info(
                "build server registered",
                metadata: ["server.id": "\(server)", "server.cpus": "\(request.numCPUs)", "jobs.dropped": "\(outcome.droppedJobs.count)"])
        }
        return HeartbeatServerResult(isNew: outcome.isNew)
    }

    /// A job_state report; `startedAgo` is a Kiln build server's word on when the job started
    /// (``DeferredStartedReport``), on the report that moves the job out of Ready.
    func updateJobState(job: JobID, to state: JobState, from server: ServerID, startedAgo: Duration? = nil) throws(JobStateRejection) {
        let record = machine.jobs[job]
        let (kind, wasReady) = (record?.kind ?? .sccache, record?.state == .ready)
        let age = try machine.updateJobState(job: job, to: state, from: server, now: clock.now, startedAgo: startedAgo)
        // The queue wait is from alloc_job to the job's start, whichever report says it.
        if state == .started || (state == .complete && wasReady) {
            metrics.queueWait.record(duration: max(.zero, age - (startedAgo ?? .zero)))
        }
        if state == .complete {
            metrics.jobDuration.record(duration: age)
            metrics.count(.completed, of: kind)
        }
    }

    /// How many servers one `alloc_job` tries: when the chosen one fails `assign_job` (it died, say), the next best
    /// is asked before the client is told to compile locally.
    static var placementAttempts: Int { 3 }

    /// Places a job: picks a server, asks it over HTTPS, and answers the client.
    func allocate(_ toolchain: Toolchain, kind: JobKind = .sccache, excluding: Set<ServerID> = []) async -> Allocation {
        var failure: Allocation?
        for _ in 0..<Self.placementAttempts {
            let attempt = await allocateOnce(toolchain, kind: kind, excluding: excluding)
            switch attempt {
            case .failed: failure = attempt
            case .response(.fail) where failure != nil: return failure!  // no other server: the failure says more
            case .response: return attempt
            }
        }
        return failure!
    }

    private func allocateOnce(_ toolchain: Toolchain, kind: JobKind, excluding: Set<ServerID>) async -> Allocation {
        let jobID: JobID
        do {
            jobID = try jobIDs.take()
        } catch {
            logger.error("cannot persist the job-id counter; check state_dir", metadata: ["error": "\(error)"])
            return .failed("the scheduler cannot persist its job ids")
        }
        let placing = ContinuousClock.now
        let decision = machine.allocate(jobID: jobID, toolchain: toolchain.archiveID, kind: kind, excluding: excluding, now: clock.now)
        metrics.record(.place, since: placing)
        switch decision {
        case .noCapacity(let message):
            metrics.count(.noCapacity)
            failures.record("no capacity: \(message)")
            return .response(.fail(message))
        case .assign(let job, let server, let key, let pem, let digest):
            do {
                let authority: HS256Authority
                if let cached = signers[server], cached.key == key {
                    authority = cached.authority
                } else {
                    authority = await HS256Authority(key: key)
                }
                let signing = ContinuousClock.now
                let token = try await authority.jobToken(for: job.rawValue)
                metrics.record(.sign, since: signing)
                // The actor is re-entrant across this await: other requests proceed while the server answers.
                let assigning = ContinuousClock.now
                let result = try await assignClient.assign(job: job, toolchain: toolchain, on: server, token: token, certificatePEM: pem)
                metrics.record(.assignJob, since: assigning)
                machine.assignSucceeded(job: job, result: result, now: clock.now)
                metrics.count(.assigned, of: kind)
                let alloc = JobAlloc(auth: token, jobID: job, serverID: server)
                return .response(.success(AllocJobSuccess(jobAlloc: alloc, needToolchain: result.needToolchain, certDigest: digest)))
            } catch  where Task.isCancelled {
                // A REAPI action whose client went away: not the server's fault.
                machine.assignAbandoned(job: job)
                return .failed("the job was cancelled while it was being placed")
            } catch {
                machine.assignFailed(job: job, now: clock.now)
                metrics.count(.assignFailed)
                failures.record("assign_job for job \(job) failed: \(error)", server: "\(server)")
                logger.warning(
                    "assign_job failed; server quarantined", metadata: ["server.id": "\(server)", "job.id": "\(job)", "error": "\(error)"])
                return .failed("assign_job on \(server) failed")
            }
        }
    }
}
