import BuilderCore
import KilnMetrics
import KilnProtocol
import Logging
import Metrics
import ResultCache
import Sandboxing
import Synchronization
import ToolchainStore

/// The build of one claimed job, with only the allowed environment: served from the result cache, shared with an
/// identical job already running, or built in a slot by the sandbox; counted and timed.
struct JobBuild: Sendable {
    let server: BuildServer
    let timeline: TimelineRecorder
    /// Called when this job's own compiler has ended (not for a result served without one).
    var onCompilerEnd: @Sendable () -> Void = {}
    /// Awaited right before this job's own compiler starts; a throw ends the job before it runs.
    var beforeCompiler: @Sendable () async throws -> Void = {}

    /// `inputs`: the inputs tar's spool file and, when it stayed in memory, the tar itself; `inputsDigest` is its
    /// ``InputsTarDigest`` (nil without a result cache).
    func run(
        _ job: JobID, toolchain: Toolchain, request: RunJobHttpRequest, inputs: (path: String, tar: [UInt8]?), inputsDigest: [UInt8]?
    ) async throws -> JobComplete {
        let started = ContinuousClock.now
        let kind = server.kinds.kind(of: toolchain.archiveID, archivePath: server.archives.archivePath(of: toolchain.archiveID))
        return try await server.kinds.running(kind, report: server.metrics.recordRunning) {
            do {
                let (result, source) = try await serve(
                    job, toolchain: toolchain, request: request, inputs: inputs, inputsDigest: inputsDigest)
                server.metrics.count(result.output.code == 0 ? .succeeded : .compileFailed, of: kind)
                server.metrics.count(source)
                server.metrics.jobDuration.record(duration: started.duration(to: .now))
                return result
            } catch {
                server.metrics.count(.sandboxError, of: kind)
                throw error
            }
        }
    }

    private func serve(
        _ job: JobID, toolchain: Toolchain, request: RunJobHttpRequest, inputs: (path: String, tar: [UInt8]?), inputsDigest: [UInt8]?
    ) async throws -> (JobComplete, BuilderMetrics.ResultSource) {
        let sandboxJob = SandboxJob(
            id: job, toolchain: toolchain, toolchainArchivePath: "", command: server.environment.command(request.command),
            outputs: request.outputs, inputsTarPath: inputs.path, inputsTar: inputs.tar)
        guard let results = server.results, let inputsDigest else { return (try await buildInSlot(sandboxJob), .built) }
        // Lookup (the toolchain's content, then the result or the wait for an identical job) until the build
        // starts; storing after it ends.
        let lookupStart = ContinuousClock.now
        let key = ResultCacheKey(
            toolchainContent: try await toolchainContent(sandboxJob), command: sandboxJob.command, outputs: request.outputs,
            inputsDigest: inputsDigest, streamLimit: server.streamLimit)
        let buildEnd = Mutex<ContinuousClock.Instant?>(nil)
        let served = try await results.result(for: key) {
            timeline.record(.cacheLookup, from: lookupStart)
            defer { buildEnd.withLock { $0 = .now } }
            return try await buildInSlot(sandboxJob)
        }
        if let end = buildEnd.withLock({ $0 }) {
            timeline.record(.resultStore, from: end)
        } else {
            timeline.record(.cacheLookup, from: lookupStart)
        }
        server.logger.debug("job result", metadata: ["job": "\(job)", "key": "\(key)", "source": "\(served.source)"])
        return (served.result, BuilderMetrics.ResultSource(rawValue: served.source.rawValue) ?? .built)
    }

    /// The content digest of the job's toolchain: known from an earlier job, or read from the archive by the sandbox.
    private func toolchainContent(_ job: SandboxJob) async throws -> [UInt8] {
        try await server.toolchainContents.digest(of: job.toolchain.archiveID) { [self] in
            let digest = try await withArchive(job) { try await server.sandbox.toolchainContent(of: $0) }
            // Anything but a BLAKE3 digest (an empty one) would key every toolchain alike: never used.
            guard digest.count == 32 else {
                throw SandboxError(.setup, "the sandbox gave no content digest for toolchain \(job.toolchain.archiveID)")
            }
            return digest
        }
    }

    /// Runs `body` with the job's toolchain archive pinned in the cache (waiting for an upload under way). An archive
    /// that does not unpack leaves the cache, so the next client is asked for it again.
    private func withArchive<R>(_ job: SandboxJob, _ body: (SandboxJob) async throws -> R) async throws -> R {
        let archiveID = job.toolchain.archiveID
        guard let archivePath = await server.archives.lease(archiveID, patience: BuildServer.toolchainArrivalPatience) else {
            throw BuilderError(.toolchainMissing, "toolchain \(archiveID) is not in the cache; it was never uploaded or was evicted")
        }
        var leased = job
        leased.toolchainArchivePath = archivePath
        do {
            let result = try await body(leased)
            await server.archives.release(archiveID)
            return result
        } catch {
            await server.archives.release(archiveID)
            if let error = error as? SandboxError, error.code == .badToolchain { await server.archives.discard(archiveID) }
            throw error
        }
    }

    /// Runs a job in a slot, with its toolchain archive pinned in the cache for the whole run.
    private func buildInSlot(_ job: SandboxJob) async throws -> JobComplete {
        try await withArchive(job) { try await buildInSlot(leased: $0) }
    }

    private func buildInSlot(leased job: SandboxJob) async throws -> JobComplete {
        var leased = job
        let sandboxStart = Mutex(ContinuousClock.now)
        let compilerEnd = Mutex<ContinuousClock.Instant?>(nil)
        leased.onCompilerStart = { [timeline, beforeCompiler] in
            timeline.record(.sandboxSetup, from: sandboxStart.withLock { $0 }, to: .now)
            try await beforeCompiler()
            sandboxStart.withLock { $0 = .now }
        }
        leased.onCompilerEnd = { [timeline, onCompilerEnd] in
            let now = ContinuousClock.now
            timeline.record(.compile, from: sandboxStart.withLock { $0 }, to: now)
            compilerEnd.withLock { $0 = now }
            onCompilerEnd()
        }
        let waiting = ContinuousClock.now
        try await server.slots.acquire()  // throws when the client left while the job waited for a slot
        server.metrics.slotWait.record(duration: waiting.duration(to: .now))
        timeline.record(.slotWait, from: waiting)
        sandboxStart.withLock { $0 = .now }
        defer { if let end = compilerEnd.withLock({ $0 }) { timeline.record(.outputsRead, from: end) } }
        let result: JobComplete
        do {
            result = try await server.sandbox.run(leased)
            await server.slots.release()
        } catch {
            await server.slots.release()
            throw error
        }
        // Never cached nor shared, and the client compiles locally instead of failing its build. (Thrown after the
        // slot went back: given back twice, it would let one job more run than the server has slots.)
        if let reason = ResourceFailure.reason(in: result.output) {
            throw SandboxError(
                .resourcesExhausted,
                "the compile failed for want of memory, processes or disk (\(reason)); raise [job_limits] if real compiles need more")
        }
        return result
    }
}
