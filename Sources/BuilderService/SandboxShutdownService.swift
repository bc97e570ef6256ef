import ResultCache
import Sandboxing
import ServiceLifecycle

/// When the builder stops gracefully: finishes writing the result cache entries of the last jobs (they are written
/// after their answers) and releases what the sandbox holds (the docker builder's idle containers).
struct SandboxShutdownService: Service {
    let sandbox: any BuildSandbox
    let results: ResultCache?

    func run() async throws {
        try? await gracefulShutdown()
        await results?.settle()
        await sandbox.shutdown()
    }
}
