import ArchiveKit
import BlockingPool
import DockerEngine
import Foundation

/// The docker sandbox's images and containers, through the Engine API: an image is the base image with the
/// toolchain archive (checked and re-packed first) and the job stub's program unpacked by the engine and committed;
/// a container runs the image's idle command, and a stub waits in it for the first job.
struct DockerContainerBackend: ContainerBackend {
    let engine: DockerEngineClient
    let settings: DockerSandboxSettings
    let stubs: DockerStubs
    let actions: DockerActionImages

    func buildImage(_ archiveID: String, archivePath: String) async throws {
        if let root = try await actions.actionRoot(of: archiveID, archivePath: archivePath) {
            return try await buildActionImage(
                archiveID, from: actions.image(of: root), scratch: archivePath + ".kit-\(UInt32.random(in: 0...UInt32.max)).tar")
        }
        let checked = archivePath + ".checked-\(UInt32.random(in: 0...UInt32.max)).tar"
        let stub = checked + ".stub"
        defer {
            unlink(checked)
            unlink(stub)
        }
        try await checkToolchain(archivePath, into: checked)
        do {
            if let program = stubs.program { try await writeStubArchive(program, to: stub) }
            try await commitImage(archiveID, from: settings.baseImage, tars: [checked] + (stubs.program == nil ? [] : [stub]))
        } catch {
            throw SandboxError(.setup, "cannot build the image of toolchain \(archiveID) on \(settings.baseImage)", underlying: error)
        }
    }

    /// The image of REAPI actions that run in `image`: the upkeep kit added (``DockerActionImages``), the image's
    /// entrypoint dropped (``DockerEngineClient/commit(container:repository:tag:labels:command:)`` sends none), its
    /// environment kept.
    private func buildActionImage(_ archiveID: String, from image: String, scratch: String) async throws {
        defer { unlink(scratch) }
        do {
            try await actions.writeUpkeepKit(to: scratch, stub: stubs.program)
            try await commitImage(archiveID, from: image, tars: [scratch])
        } catch let error as SandboxError {
            throw error
        } catch {
            throw SandboxError(.setup, "cannot build the image of REAPI actions on \(image)", underlying: error)
        }
    }

    /// Commits the image of `archiveID`: a container of `base` with `tars` unpacked into its root by the engine,
    /// the idle command its command. The container is removed whatever happens.
    private func commitImage(_ archiveID: String, from base: String, tars: [String]) async throws {
        let builder = try await engine.createContainer(
            ContainerConfig(
                image: base, command: [DockerSandboxSettings.busybox, "true"], labels: settings.labels, hostConfig: settings.hostConfiguration))
        do {
            for tar in tars { try await engine.putArchive(container: builder, directory: "/", tarFile: tar, copyOwners: false, timeout: 600) }
            try await engine.commit(
                container: builder, repository: DockerSandboxSettings.imageRepository, tag: settings.imageTag(of: archiveID),
                labels: settings.labels(forToolchain: archiveID), command: DockerSandboxSettings.idleCommand)
        } catch {
            try? await engine.removeContainer(builder)
            throw error
        }
        try? await engine.removeContainer(builder)
    }

    /// The toolchain archive as the engine may unpack it: the checks of every other archive (no `..`, absolute
    /// path, device, fifo or write through a symlink; setuid bits stripped; entries and bytes bounded), every file
    /// root's, and nothing under `/.kiln`, whose busybox runs the containers' upkeep as root.
    private func checkToolchain(_ archivePath: String, into checked: String) async throws {
        let rewriter = ContainerInputsRewriter.toolchain(limits: .toolchain, reserved: [DockerSandboxSettings.reservedDirectory])
        do { _ = try await BlockingWork.run { try rewriter.rewrite(inputs: archivePath, to: checked, extraDirectories: []) } } catch let error
            as ArchiveError
        {
            throw SandboxError(.badToolchain, "the toolchain archive is refused: \(error.message)", underlying: error)
        }
    }

    /// A tar of the stub's program at ``DockerStubs/path``, root's and not writable by jobs.
    private func writeStubArchive(_ program: String, to path: String) async throws {
        try await BlockingWork.run {
            let writer = try TarArchiveWriter(path: path)
            try writer.addFile(
                String(DockerStubs.path.dropFirst()), contents: Array(try Data(contentsOf: URL(fileURLWithPath: program))), mode: 0o755)
            try writer.finish()
        }
    }

    func startContainer(fromImageOf archiveID: String) async throws -> String {
        let container = try await engine.createContainer(
            ContainerConfig(
                image: image(of: archiveID), command: DockerSandboxSettings.idleCommand, labels: settings.labels(forToolchain: archiveID),
                hostConfig: settings.hostConfiguration))
        do { try await engine.startContainer(container) } catch {
            try? await engine.removeContainer(container)
            throw error
        }
        await stubs.start(in: container)
        return container
    }

    func removeContainer(_ container: String) async {
        await stubs.discard(container)
        try? await engine.removeContainer(container)
    }

    func removeImage(of archiveID: String) async { try? await engine.removeImage(image(of: archiveID)) }

    private func image(of archiveID: String) -> String { "\(DockerSandboxSettings.imageRepository):\(settings.imageTag(of: archiveID))" }
}
