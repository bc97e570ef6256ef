import DockerEngine
import Foundation
import JobSpawn

/// The docker sandbox's execs started ahead, one per idle container: a stub (``JobParker``'s `stub-stdin`,
/// copied into every toolchain image) that runs as the job user and waits on stdin for its job's command, then
/// becomes the compiler. A job then pays for sending its command instead of the engine's start of a process
/// (40–55 ms here). A stub is started when a container starts and after each clean reset; a container without one
/// (the stub failed, or no `kiln-job-parker` beside the server) runs its job through an exec started then.
actor DockerStubs {
    /// Where the stub's program is in every toolchain image (under Kiln's reserved directory).
    static let path = "/\(DockerSandboxSettings.reservedDirectory)/job-stub"

    private let engine: DockerEngineClient
    private let jobUser: String
    /// The stub's program on the host, nil when there is none (no stubs are started then).
    nonisolated let program: String?
    private var started: [String: Task<AttachedExec?, Never>] = [:]
    /// Jobs run by their container's stub.
    private(set) var served = 0

    init(engine: DockerEngineClient, jobUser: String, program: String? = JobParker.path) {
        self.engine = engine
        self.jobUser = jobUser
        self.program = program
    }

    /// Starts a stub in `container` in the background, replacing one not used.
    func start(in container: String) {
        guard program != nil else { return }
        discard(container)
        let config = ExecConfig(user: jobUser, workingDirectory: "/", environment: [], command: [Self.path] + JobParker.stdinStubArguments)
        started[container] = Task { [engine] in
            try? await engine.startAttached(container: container, config, greeting: JobParker.stdinStubGreeting)
        }
    }

    /// The stub of `container`, once it runs; nil when it has none or it failed to start.
    func take(_ container: String) async -> AttachedExec? {
        guard let task = started.removeValue(forKey: container) else { return nil }
        return await task.value
    }

    /// Counts a job its stub ran.
    func countServed() { served += 1 }

    /// True once the stub of `container` runs (for tests: without taking it).
    func isRunning(in container: String) async -> Bool { await started[container]?.value != nil }

    /// Ends the stub of a container not used again (its stdin closes, and it exits).
    func discard(_ container: String) {
        guard let task = started.removeValue(forKey: container) else { return }
        Task { await task.value?.close() }
    }
}
