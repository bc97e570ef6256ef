import Sandboxing
import ServiceLifecycle

/// Releases what the sandbox holds (the docker builder's idle containers) when the builder stops gracefully.
struct SandboxShutdownService: Service {
    let sandbox: any BuildSandbox

    func run() async throws {
        try? await gracefulShutdown()
        await sandbox.shutdown()
    }
}
