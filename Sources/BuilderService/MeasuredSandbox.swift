import KilnMetrics
import KilnProtocol
import Metrics
import Sandboxing
import Synchronization

/// Any sandbox, timed: setup (toolchain, inputs, root) until the compiler starts, the compile itself, and
/// toolchain unpacks. Composed at start-up around the configured backend.
struct MeasuredSandbox: BuildSandbox {
    let base: any BuildSandbox
    let metrics: BuilderMetrics

    func prepare() async throws { try await base.prepare() }
    func shutdown() async { await base.shutdown() }
    func stopWorkingAhead() async { await base.stopWorkingAhead() }
    var enforcementReport: String { base.enforcementReport }

    func toolchainContent(of job: SandboxJob) async throws -> [UInt8] {
        var timed = job
        timed.onToolchainUnpacked = unpackRecorder(job)
        return try await base.toolchainContent(of: timed)
    }

    func run(_ job: SandboxJob) async throws -> JobComplete {
        let started = ContinuousClock.now
        let compilerStarted = Mutex<ContinuousClock.Instant?>(nil)
        var timed = job
        timed.onCompilerStart = { [metrics] in
            metrics.sandboxSetup.record(duration: started.duration(to: .now))
            try await job.onCompilerStart?()
            compilerStarted.withLock { $0 = .now }
        }
        timed.onToolchainUnpacked = unpackRecorder(job)
        defer {
            if let compileStart = compilerStarted.withLock({ $0 }) { metrics.compile.record(duration: compileStart.duration(to: .now)) }
        }
        return try await base.run(timed)
    }

    private func unpackRecorder(_ job: SandboxJob) -> @Sendable (Duration) -> Void {
        { [metrics] duration in
            metrics.toolchainUnpack.record(duration: duration)
            job.onToolchainUnpacked?(duration)
        }
    }
}
