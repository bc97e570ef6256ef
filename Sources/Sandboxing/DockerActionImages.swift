import ArchiveKit
import BlockingPool
import BuilderCore
import DockerEngine
import Foundation
import Synchronization

/// REAPI actions on the docker builder: which toolchains are action roots (read once per toolchain from its
/// archive), and the image of each, made from the image the action asks for (or the base image) with Kiln's
/// upkeep kit added: the base image's busybox and the job stub under `/.kiln`. The action's input root and working
/// directory are `/work`; nothing of the ``HostRootToolchain`` archive is unpacked (the image has its own root).
final class DockerActionImages: Sendable {
    let engine: DockerEngineClient
    let settings: DockerSandboxSettings
    /// Toolchain id → its action root, or nil for an sccache toolchain.
    private let roots = Mutex<[String: ActionRoot?]>([:])
    /// Images found on the engine already (checked once each).
    private let present = Mutex<Set<String>>([])

    init(engine: DockerEngineClient, settings: DockerSandboxSettings) {
        self.engine = engine
        self.settings = settings
    }

    /// The action root `archivePath` is, nil for an sccache toolchain; cached by toolchain id.
    func actionRoot(of archiveID: String, archivePath: String) async throws -> ActionRoot? {
        if let known = roots.withLock({ $0[archiveID] }) { return known }
        let root = try await BlockingWork.run { HostRootToolchain.actionRoot(ofArchiveAt: archivePath) }
        roots.withLock { $0[archiveID] = .some(root) }
        return root
    }

    /// The image an action of `root` runs in: the one it names, or the base image.
    func image(of root: ActionRoot) -> String { root.containerImage ?? settings.baseImage }

    /// Throws ``SandboxError/Code/unsupportedPlatform`` when the action's image is not on the engine: the builder
    /// pulls nothing (its engine may have no registry), so images are placed there beforehand.
    func requireImage(of root: ActionRoot) async throws {
        let image = image(of: root)
        guard !present.withLock({ $0.contains(image) }) else { return }
        guard try await engine.imageExists(image) else {
            throw SandboxError(
                .unsupportedPlatform, "the action's container image \(image) is not on this builder's Docker engine; pull or load it there first")
        }
        present.withLock { _ = $0.insert(image) }
    }

    /// The upkeep kit as a tar at `path`: `/.kiln/busybox` taken from the base image, and the stub's `program`.
    func writeUpkeepKit(to path: String, stub program: String?) async throws {
        let source = try await engine.createContainer(
            ContainerConfig(
                image: settings.baseImage, command: [DockerSandboxSettings.busybox, "true"], labels: settings.labels,
                hostConfig: settings.hostConfiguration))
        let tar: [UInt8]?
        do { tar = try await engine.getArchive(container: source, path: DockerSandboxSettings.busybox, limit: 64 << 20, timeout: 120) } catch {
            try? await engine.removeContainer(source)
            throw error
        }
        try? await engine.removeContainer(source)
        guard let tar else {
            throw SandboxError(
                .unavailable,
                "the base image \(settings.baseImage) has no \(DockerSandboxSettings.busybox); rebuild it with scripts/docker-base-image")
        }
        try await BlockingWork.run {
            let busybox = try SingleFileArchive.contents(of: tar, limit: 64 << 20)
            let writer = try TarArchiveWriter(path: path)
            try writer.addDirectory(DockerSandboxSettings.reservedDirectory, mode: 0o755)
            try writer.addFile(String(DockerSandboxSettings.busybox.dropFirst()), contents: busybox, mode: 0o755)
            if let program {
                try writer.addFile(
                    String(DockerStubs.path.dropFirst()), contents: Array(try Data(contentsOf: URL(fileURLWithPath: program))), mode: 0o755)
            }
            try writer.finish()
        }
    }
}
