import ArchiveKit
import BlockingPool
import BuilderCore
import DockerEngine
import Foundation
import JobSpawn
import KilnProtocol
import WireStreams

/// The docker builder, through the Engine API (never the `docker` CLI): a per-toolchain image, a pool of started
/// containers reused after a reset (with spares started ahead), the compile through exec as an unprivileged user.
/// Inputs go in and outputs (regular files only) come out through the container's root on the host where the
/// builder may write there (root, overlay2), else with `PUT`/`GET /archive`, which cost the engine a process each. Containers have no network and bounded memory,
/// processes and CPU (``DockerSandboxSettings``). Upstream's builder shells out to `docker` about eight times a
/// job, keeps the network and compiles as root (protocol §8.5). REAPI actions run the same way, in the image their
/// `container-image` names or the base image (``DockerActionImages``).
public struct DockerSandbox: BuildSandbox {
    let engine: DockerEngineClient
    let settings: DockerSandboxSettings
    let limits: SandboxLimits
    let pool: ContainerPool<DockerContainerBackend>
    let stubs: DockerStubs
    let actions: DockerActionImages
    let filesystems = ContainerFilesystems()

    /// - Parameter toolchainBudget: the archive bytes of toolchain images kept when no job uses them.
    public init(settings: DockerSandboxSettings, toolchainBudget: UInt64, limits: SandboxLimits = SandboxLimits()) {
        engine = DockerEngineClient(socketPath: settings.socketPath)
        self.settings = settings
        self.limits = limits
        stubs = DockerStubs(engine: engine, jobUser: "\(settings.uid):\(settings.gid)")
        actions = DockerActionImages(engine: engine, settings: settings)
        pool = ContainerPool(
            backend: DockerContainerBackend(engine: engine, settings: settings, stubs: stubs, actions: actions),
            idleLimit: settings.idleContainersPerToolchain,
            budget: toolchainBudget, resetWorkers: settings.resetWorkers, spares: settings.spareContainersPerToolchain)
    }

    /// Checks the engine answers and the base image exists, then removes this builder's containers and images
    /// left by an earlier run.
    public func prepare() async throws {
        do {
            _ = try await engine.version()
            guard try await engine.imageExists(settings.baseImage) else {
                throw SandboxError(
                    .unavailable, "the base image \(settings.baseImage) is missing; build it with scripts/docker-base-image (no registry needed)")
            }
            let label = (DockerSandboxSettings.instanceLabel, settings.instance)
            for container in try await engine.containers(labeled: label.0, label.1) { try await engine.removeContainer(container) }
            for image in try await engine.images(labeled: label.0, label.1) { try await engine.removeImage(image) }
        } catch let error as DockerEngineError {
            throw SandboxError(.unavailable, "the Docker engine at \(settings.socketPath) is not usable: \(error.message)", underlying: error)
        }
    }

    private var jobUser: String { "\(settings.uid):\(settings.gid)" }

    public func run(_ job: SandboxJob) async throws -> JobComplete {
        // A REAPI action runs in the image it names (or the base image), which must be on the engine.
        if let root = try await actions.actionRoot(of: job.toolchain.archiveID, archivePath: job.toolchainArchivePath) {
            try await actions.requireImage(of: root)
        }
        let layout = try JobLayout(command: job.command, outputs: job.outputs)
        // The directories the job writes in, relative to the root.
        let needed = layout.directories.map { $0.joined(separator: "/") }
        let inputs = job.inputsTarPath + ".container"
        try await rewriteInputs(try await BlockingWork.run { try job.inputsFile() }, to: inputs, directories: needed)
        defer { unlink(inputs) }

        let lease = try await pool.acquire(job.toolchain, archivePath: job.toolchainArchivePath, onUnpacked: job.onToolchainUnpacked)
        do {
            let result = try await runInContainer(job, lease: lease, inputs: inputs, layout: layout)
            await pool.release(lease, reset: reset)
            return result
        } catch {
            await pool.release(lease, reset: reset)
            throw error
        }
    }

    /// Makes a container given back as good as new (``DockerContainerReset``), from the host where it can, and
    /// starts the stub of its next job.
    private var reset: @Sendable (String) async -> Bool {
        { [engine, jobUser, filesystems, stubs] container in
            let host = try? await filesystems.filesystem(of: container) { try await engine.filesystem(container: container) }
            let clean = await DockerContainerReset.reset(container, engine: engine, jobUser: jobUser, host: host)
            if clean { await stubs.start(in: container) }
            return clean
        }
    }

    private func runInContainer(
        _ job: SandboxJob, lease: ContainerPool<DockerContainerBackend>.Lease, inputs: String, layout: JobLayout
    )
        async throws -> JobComplete
    {
        do {
            let container = lease.container
            let filesystem = try await filesystems.filesystem(of: container) { try await engine.filesystem(container: container) }
            try await placeInputs(inputs, in: container, root: filesystem.root)
            let config = ExecConfig(
                user: jobUser, workingDirectory: job.command.cwd,
                environment: job.command.passableEnvironment.map { "\($0.name)=\($0.value)" },
                command: [job.command.executable] + job.command.arguments)
            let stub = await stubs.take(container)
            defer { stub?.close() }
            let message = stub.flatMap { _ in
                JobParker.stubMessage(
                    for: JobProcess(
                        executable: job.command.executable, arguments: job.command.arguments,
                        environment: job.command.environmentByName),
                    cwd: job.command.cwd)
            }
            // Cancelling the call alone would leave the job running in the container: its processes are killed.
            let exec = { @Sendable [engine, limits, stubs] in
                try await withTaskCancellationHandler {
                    let timeout = Int(limits.timeout.components.seconds)
                    if let stub, let message {
                        do {
                            let result = try await engine.finish(
                                stub, input: message, acknowledgement: JobParker.stdinStubAcknowledgement, timeout: timeout,
                                streamLimit: limits.maxStreamBytes)
                            await stubs.countServed()
                            return result
                        } catch let error as DockerEngineError where error.code == .notStarted {
                            // The stub had ended (nothing of the job ran): the job runs through an exec of its own.
                        }
                    }
                    return try await engine.exec(container: container, config, timeout: timeout, streamLimit: limits.maxStreamBytes)
                } onCancel: {
                    Task { [jobUser] in await DockerContainerReset.killJobs(in: container, engine: engine, jobUser: jobUser) }
                }
            }
            // The writable layer is on the host; where the builder may read it, the job's disk use is watched there.
            let layer = filesystem.writableLayer
            try await job.onCompilerStart?()
            let result = try await DiskUsageWatch.run(exec, watching: layer, limit: limits.diskBytes)
            job.onCompilerEnd?()
            try Task.checkCancellation()
            guard !result.streams.truncated else {
                throw SandboxError(.outputTooLarge, "\(job.command.executable) wrote more than \(limits.maxStreamBytes) bytes to stdout or stderr")
            }
            let produced = try await readOutputs(layout, from: container, root: filesystem.root)
            let process = ProcessOutput(
                code: Int32(truncatingIfNeeded: result.exitCode), stdout: result.streams.stdout, stderr: result.streams.stderr)
            return JobComplete(output: process, outputs: produced)
        } catch let error as DockerEngineError where error.code == .timeout {
            throw SandboxError(.timedOut, "the job ran longer than \(limits.timeout) and was killed", underlying: error)
        } catch let error as DockerEngineError {
            throw SandboxError(.setup, "the Docker engine failed the job: \(error.message)", underlying: error)
        }
    }

    public var enforcementReport: String {
        "docker sandbox; job limits: timeout \(limits.timeout) (exec killed); \(settings.report); disk "
            + (limits.diskBytes.map { "\($0) bytes by a watch of the container's writable layer where readable" } ?? "unlimited")
            + "; \(limits.outputsReport)"
    }

    /// Waits for the resets, then removes the idle containers; the next start removes the images.
    public func shutdown() async { await pool.drain() }

    /// Waits until every container given back has been reset, or removed (tests look at the pool afterwards).
    public func waitForResets() async { await pool.settle() }

    /// Jobs run by a stub started ahead in their container (see ``DockerStubs``), since the start.
    public var jobsStartedAhead: Int { get async { await stubs.served } }

    /// Idle containers per toolchain archive id.
    public var idleContainers: [String: Int] { get async { await pool.idleCounts } }

    /// Unpacks the job's inputs (owned by the job user already) into the container: through its root on the host,
    /// or with the engine's `PUT /archive`.
    private func placeInputs(_ inputs: String, in container: String, root: String?) async throws {
        guard let root else {
            try await engine.putArchive(container: container, directory: "/", tarFile: inputs, copyOwners: true, timeout: 300)
            return
        }
        let extractor = SafeExtractor(limits: .jobInputs, owner: (UInt32(settings.uid), UInt32(settings.gid)))
        do { _ = try await BlockingWork.run { try extractor.extract(file: inputs, into: root) } } catch let error as ArchiveError {
            // The image may make a directory of the inputs' path a symlink (`/var/run`); the engine resolves it
            // inside the container, where the host-side unpacking refuses to follow it.
            guard error.code == .symlinkEscape else {
                throw SandboxError.inputsRefused(error, into: " into the container")
            }
            try await engine.putArchive(container: container, directory: "/", tarFile: inputs, copyOwners: true, timeout: 300)
        }
    }

    /// The declared outputs that are regular files: read through the container's root on the host (never through
    /// a symlink), or with the engine's `GET /archive`.
    private func readOutputs(_ layout: JobLayout, from container: String, root: String?) async throws -> [NamedOutput] {
        if let root { return try await layout.readOutputs(under: root, limit: limits.maxOutputFileBytes, total: limits.maxOutputBytes) }
        var produced: [NamedOutput] = []
        var remaining = limits.maxOutputBytes
        for output in layout.outputs {
            guard !output.isDirectory else {
                throw SandboxError(
                    .setup, "directory outputs are read through the container's root on the host: run the builder as root with overlay2")
            }
            if let file = try await readOutput(output.path, from: container, limit: min(limits.maxOutputFileBytes, remaining)) {
                remaining -= file.count
                produced.append(NamedOutput(path: output.name, data: try OutputData(compressing: file)))
            }
        }
        return produced
    }

    private func readOutput(_ path: String, from container: String, limit: Int) async throws -> [UInt8]? {
        guard let tar = try await engine.getArchive(container: container, path: path, limit: limit + (1 << 20), timeout: 300) else { return nil }
        do { return try await BlockingWork.run { try SingleFileArchive.contents(of: tar, limit: limit) } } catch let error as ArchiveError {
            throw SandboxError(.unsafeOutput, "output '\(path)' cannot be returned: \(error.message)")
        }
    }

    private func rewriteInputs(_ source: String, to destination: String, directories: [String]) async throws {
        let rewriter = ContainerInputsRewriter(limits: .jobInputs, uid: settings.uid, gid: settings.gid)
        do { _ = try await BlockingWork.run { try rewriter.rewrite(inputs: source, to: destination, extraDirectories: directories) } } catch let error
            as ArchiveError
        {
            unlink(destination)
            throw SandboxError.inputsRefused(error)
        }
    }
}
