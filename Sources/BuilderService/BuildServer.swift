import ArchiveKit
import BuilderCore
import Foundation
import KilnAuth
import KilnMetrics
import KilnProtocol
import Logging
import Metrics
import ResultCache
import Sandboxing
import Synchronization
import ToolchainStore

/// The build server's decisions for the three client-facing endpoints (protocol §2.6–2.8), apart from HTTP:
/// the job table, the toolchain cache, the job slots, the sandbox and the scheduler link.
final class BuildServer: Sendable {
    /// How long a build waits for another client's upload of its toolchain (its own client was told not to send
    /// it): 150 MB over a 20 Mbit/s link. sccache's clients wait 600 s for run_job.
    static let toolchainArrivalPatience: Duration = .seconds(60)

    let identity: BuilderIdentity
    let link: any SchedulerReporting
    let archives: ToolchainArchiveCache
    let sandbox: any BuildSandbox
    let slots: JobSlots
    let spoolDirectory: String
    let logger: Logger
    /// What of the client's environment reaches the compiler (and the result cache key).
    let environment: JobEnvironmentPolicy
    /// nil when `[result_cache] enabled = false`.
    let results: ResultCache?
    /// The content digest of each toolchain, part of every result's key.
    let toolchainContents = ToolchainContents()
    /// Which jobs are sccache clients' and which REAPI actions', for the metrics.
    let kinds = ToolchainKinds()
    /// The sandbox's stream limit, part of every result's key.
    let streamLimit: Int
    let metrics: BuilderMetrics
    private let authority: HS256Authority
    /// Complete reports that failed, retried in the background.
    private let reports = ReportRetrier()
    private let jobs = Mutex(JobTable<ErasedClock>(maxAge: .seconds(600)))
    /// What the job table's ages are read on.
    private let clock: ErasedClock
    private let spoolSequence = Mutex(0)
    /// `zeroRefused`: the scheduler would not take a heartbeat with no CPUs (sccache-dist's answers 500), so a
    /// draining server keeps reporting its slots and refuses assign_job instead.
    private let drain = Mutex((draining: false, runJobs: 0, zeroRefused: false))
    /// Notified when a run_job ends or an assigned job is claimed: what a drain waits for.
    let jobsChanged = ChangeSignal()

    init(
        identity: BuilderIdentity, link: any SchedulerReporting, archives: ToolchainArchiveCache, sandbox: any BuildSandbox,
        slots: Int, spoolDirectory: String, environment: JobEnvironmentPolicy, results: ResultCache?, streamLimit: Int,
        metrics: BuilderMetrics = BuilderMetrics(), clock: ErasedClock = ErasedClock(ContinuousClock()), logger: Logger
    ) async {
        self.clock = clock
        self.identity = identity
        self.link = link
        self.archives = archives
        self.sandbox = sandbox
        self.slots = JobSlots(capacity: slots)
        self.spoolDirectory = spoolDirectory
        self.environment = environment
        self.results = results
        self.streamLimit = streamLimit
        self.metrics = metrics
        self.logger = logger
        authority = await HS256Authority(key: identity.jobTokenKey)
    }

    /// Tells the scheduler the job is Complete (`startedAgo`: when it started, if its Started report was not sent);
    /// when that fails, keeps trying in the background (a lost report would hold one of this server's slots on the
    /// scheduler until the job's lease ends) and returns false.
    @discardableResult
    func reportComplete(_ job: JobID, startedAgo: Duration? = nil) async -> Bool {
        await reports.deliver({ [link] in try await link.reportJobState(job, .complete, startedAgo: startedAgo) }) { [logger] outcome in
            switch outcome {
            case .delivered(let attempt): logger.info("job_state Complete delivered on retry", metadata: ["job": "\(job)", "retry": "\(attempt)"])
            case .gaveUp(let error): logger.error("job_state Complete given up after retries", metadata: ["job": "\(job)", "error": "\(error)"])
            case .shed: logger.error("job_state Complete not retried: too many reports waiting", metadata: ["job": "\(job)"])
            }
        }
    }

    /// Checks a job token against this server's key and the path's job id (§6.3); the reason when it fails.
    func rejection(ofToken token: String?, for job: JobID) async -> String? {
        guard let token else { return "no Authorization header" }
        do {
            try await authority.verifyJobToken(token, jobID: job.rawValue)
            return nil
        } catch {
            return "JWT decode failed: " + ((error as? AuthError)?.message ?? "the token is not valid")
        }
    }

    /// assign_job: remembers the job's toolchain (a duplicate id replaces the old entry) and says whether the
    /// client must upload it.
    func assign(_ job: JobID, toolchain: Toolchain) async -> AssignJobResult {
        let now = clock.now
        let replaced = jobs.withLock { table in
            table.expire(now: now)
            return table.assign(job, toolchain: toolchain, now: now)
        }
        if replaced { logger.warning("job id assigned twice; the newer assignment wins", metadata: ["job": "\(job)"]) }
        let cached = await archives.holdsOrAwaits(toolchain.archiveID)
        metrics.countToolchainLookup(hit: cached)
        return .forToolchain(cached: cached)
    }

    func toolchain(of job: JobID) -> Toolchain? { jobs.withLock { $0.toolchain(of: job) } }

    /// Whether an assigned job was assigned less than `interval` ago.
    func wasAssigned(_ job: JobID, within interval: Duration) -> Bool {
        let now = clock.now
        return jobs.withLock { $0.assignedAt(job) }.map { $0.duration(to: now) < interval } ?? false
    }

    func claim(_ job: JobID) -> Toolchain? {
        defer { jobsChanged.notify() }
        return jobs.withLock { $0.claim(job) }
    }

    /// A fresh path for spooling one job's inputs.
    func spoolPath(for job: JobID) -> String {
        let number = spoolSequence.withLock { value in
            value += 1
            return value
        }
        return "\(spoolDirectory)/\(job)-\(number).tar"
    }

    /// From now on the heartbeat reports no capacity, so schedulers send no new jobs; running ones go on.
    func beginDrain() { drain.withLock { $0.draining = true } }

    var isDraining: Bool { drain.withLock { $0.draining } }

    /// Runs a run_job request, counted as outstanding work for a drain.
    func countingRunJob<T>(_ body: () async throws -> T) async rethrows -> T {
        drain.withLock { $0.runJobs += 1 }
        defer {
            drain.withLock { $0.runJobs -= 1 }
            jobsChanged.notify()
        }
        return try await body()
    }

    /// What a drain waits for: run_job requests in progress, and assigned jobs whose run_job has not come yet.
    func outstandingJobs() -> (running: Int, assigned: Int) {
        let running = drain.withLock { $0.runJobs }
        let now = clock.now
        return (
            running,
            jobs.withLock { table in
                table.expire(now: now)
                return table.count
            }
        )
    }

    /// Sends a heartbeat: no CPUs while draining, unless the scheduler refuses that; then the slots again.
    func heartbeat() async throws {
        do {
            try await sendHeartbeat()
            metrics.countHeartbeat(sent: true)
        } catch {
            metrics.countHeartbeat(sent: false)
            throw error
        }
    }

    private func sendHeartbeat() async throws {
        let reportsZero = drain.withLock { $0.draining && !$0.zeroRefused }
        do {
            _ = try await link.heartbeat(heartbeatRequest(numCPUs: reportsZero ? 0 : slots.capacity))
        } catch  where reportsZero {
            drain.withLock { $0.zeroRefused = true }
            logger.warning("the scheduler refuses a heartbeat with no CPUs; refusing assign_job while draining", metadata: ["error": "\(error)"])
            _ = try await link.heartbeat(heartbeatRequest(numCPUs: slots.capacity))
        }
    }

    /// The heartbeat body: key, CPUs, nonce and certificate.
    func heartbeatRequest(numCPUs: Int) -> HeartbeatServerHttpRequest {
        HeartbeatServerHttpRequest(
            jwtKey: identity.jobTokenKey, numCPUs: numCPUs, serverNonce: identity.nonce,
            certDigest: identity.certificateDigest, certPEM: Array(identity.certificatePEM.utf8))
    }
}
