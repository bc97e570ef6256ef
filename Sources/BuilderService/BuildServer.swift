import ArchiveKit
import BuilderCore
import Foundation
import KilnAuth
import KilnProtocol
import Logging
import ResultCache
import Sandboxing
import Synchronization
import ToolchainStore

/// The build server's decisions for the three client-facing endpoints (protocol §2.6–2.8), apart from HTTP:
/// the job table, the toolchain cache, the job slots, the sandbox and the scheduler link.
final class BuildServer: Sendable {
    let identity: BuilderIdentity
    let link: SchedulerLink
    let archives: ToolchainArchiveCache
    let sandbox: any BuildSandbox
    let slots: JobSlots
    let spoolDirectory: String
    let logger: Logger
    /// What of the client's environment reaches the compiler (and the result cache key).
    let environment: JobEnvironmentPolicy
    /// nil when `[result_cache] enabled = false`.
    let results: ResultCache?
    /// The sandbox's stream limit, part of every result's key.
    let streamLimit: Int
    private let authority: HS256Authority
    private let jobs = Mutex(JobTable<ContinuousClock>(maxAge: .seconds(600)))
    private let spoolSequence = Mutex(0)

    init(
        identity: BuilderIdentity, link: SchedulerLink, archives: ToolchainArchiveCache, sandbox: any BuildSandbox,
        slots: Int, spoolDirectory: String, environment: JobEnvironmentPolicy, results: ResultCache?, streamLimit: Int,
        logger: Logger
    ) async {
        self.identity = identity
        self.link = link
        self.archives = archives
        self.sandbox = sandbox
        self.slots = JobSlots(capacity: slots)
        self.spoolDirectory = spoolDirectory
        self.environment = environment
        self.results = results
        self.streamLimit = streamLimit
        self.logger = logger
        authority = await HS256Authority(key: identity.jobTokenKey)
    }

    /// Checks a job token against this server's key and the path's job id (§6.3); the reason when it fails.
    func rejection(ofToken token: String?, for job: JobID) async -> String? {
        guard let token else { return "no Authorization header" }
        do {
            try await authority.verifyJobToken(token, jobID: job.rawValue)
            return nil
        } catch {
            return "JWT decode failed: \(error)"
        }
    }

    /// assign_job: remembers the job's toolchain (a duplicate id replaces the old entry) and says whether the
    /// client must upload it.
    func assign(_ job: JobID, toolchain: Toolchain) async -> AssignJobResult {
        let now = ContinuousClock.now
        let replaced = jobs.withLock { table in
            table.expire(now: now)
            return table.assign(job, toolchain: toolchain, now: now)
        }
        if replaced { logger.warning("job id assigned twice; the newer assignment wins", metadata: ["job": "\(job)"]) }
        return .forToolchain(cached: await archives.contains(toolchain.archiveID))
    }

    func toolchain(of job: JobID) -> Toolchain? { jobs.withLock { $0.toolchain(of: job) } }

    func claim(_ job: JobID) -> Toolchain? { jobs.withLock { $0.claim(job) } }

    /// A fresh path for spooling one job's inputs.
    func spoolPath(for job: JobID) -> String {
        let number = spoolSequence.withLock { value in
            value += 1
            return value
        }
        return "\(spoolDirectory)/\(job)-\(number).tar"
    }

    /// Runs a claimed job with only the allowed environment: served from the result cache, shared with an
    /// identical job already running, or built in a slot. `inputsDigest` is the ``InputsTarDigest`` of the
    /// inputs (nil without a result cache).
    func build(
        _ job: JobID, toolchain: Toolchain, request: RunJobHttpRequest, inputsTarPath: String, inputsDigest: [UInt8]?
    ) async throws -> JobComplete {
        let sandboxJob = SandboxJob(
            id: job, toolchain: toolchain, toolchainArchivePath: "", command: environment.command(request.command),
            outputs: request.outputs, inputsTarPath: inputsTarPath)
        guard let results, let inputsDigest else { return try await buildInSlot(sandboxJob) }
        let key = ResultCacheKey(
            archiveID: toolchain.archiveID, command: sandboxJob.command, outputs: request.outputs, inputsDigest: inputsDigest,
            streamLimit: streamLimit)
        let served = try await results.result(for: key) { try await self.buildInSlot(sandboxJob) }
        logger.debug("job result", metadata: ["job": "\(job)", "key": "\(key)", "source": "\(served.source)"])
        return served.result
    }

    /// Runs a job in a slot, with its toolchain archive pinned in the cache for the whole run.
    private func buildInSlot(_ job: SandboxJob) async throws -> JobComplete {
        let archiveID = job.toolchain.archiveID
        guard let archivePath = await archives.lease(archiveID) else {
            throw BuilderError(.configuration, "toolchain \(archiveID) is not in the cache; it was never uploaded or was evicted")
        }
        var leased = job
        leased.toolchainArchivePath = archivePath
        await slots.acquire()
        do {
            let result = try await sandbox.run(leased)
            await slots.release()
            await archives.release(archiveID)
            return result
        } catch {
            await slots.release()
            await archives.release(archiveID)
            throw error
        }
    }

    /// The heartbeat body: key, slots, nonce and certificate.
    func heartbeatRequest() -> HeartbeatServerHttpRequest {
        HeartbeatServerHttpRequest(
            jwtKey: identity.jobTokenKey, numCPUs: slots.capacity, serverNonce: identity.nonce,
            certDigest: identity.certificateDigest, certPEM: Array(identity.certificatePEM.utf8))
    }
}
