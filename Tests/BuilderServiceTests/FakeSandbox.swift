import ArchiveKit
import BuilderCore
import KilnProtocol
import Sandboxing
import Synchronization

/// A sandbox that runs nothing: it records each job and answers with the job's command in stdout and every
/// declared output holding `out`. While ``hold`` is set, jobs wait until ``release()`` (or their cancellation).
/// Its "compiler" ends after the hold; ``afterCompiler`` then stands for reading the outputs.
final class FakeSandbox: BuildSandbox {
    let jobs = Mutex<[SandboxJob]>([])
    let afterCompiler = Mutex<@Sendable () async throws -> Void>({})
    let running = Mutex(0)
    /// Jobs whose "compiler" started (past ``SandboxJob/onCompilerStart``).
    let compilersRun = Mutex(0)
    let hold = Mutex(false)
    /// The exit code of every "compiler".
    let exitCode = Mutex<Int32>(0)
    let changed = ChangeSignal()

    func prepare() async throws {}
    var enforcementReport: String { "fake sandbox" }

    func release() {
        hold.withLock { $0 = false }
        changed.notify()
    }

    func run(_ job: SandboxJob) async throws -> JobComplete {
        jobs.withLock { $0.append(job) }
        running.withLock { $0 += 1 }
        changed.notify()
        defer {
            running.withLock { $0 -= 1 }
            changed.notify()
        }
        await changed.wait { !hold.withLock { $0 } }
        try Task.checkCancellation()
        try await job.onCompilerStart?()
        compilersRun.withLock { $0 += 1 }
        job.onCompilerEnd?()
        try await afterCompiler.withLock { $0 }()
        let contents = Array("out".utf8)
        return JobComplete(
            output: ProcessOutput(code: exitCode.withLock { $0 }, stdout: Array("ran \(job.command.executable)".utf8), stderr: []),
            outputs: try job.outputs.map {
                NamedOutput(path: $0, data: OutputData(compressed: try ZlibDeflate.compress(contents), uncompressedLength: UInt64(contents.count)))
            })
    }

    /// Waits until `condition` holds; every job start and end notifies.
    func wait(until condition: @Sendable () -> Bool) async { await changed.wait(until: condition) }
}
