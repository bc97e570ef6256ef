import DockerEngine
import Foundation
import Synchronization

/// Where each container's files are on the host, asked of the engine once per container rather than once per job
/// (a container is reused for many jobs and keeps its layers for its whole life). A directory the builder cannot
/// use is cached as nil: the driver has none, or the builder may not read the writable layer, or (not root) may
/// not write into the container's root.
final class ContainerFilesystems: Sendable {
    private let known = Mutex<[String: ContainerFilesystem]>([:])
    /// Containers come and go; past this many entries the cache starts again.
    private let limit = 512

    /// What is known of `container`, asked of the engine with `lookUp` the first time.
    func filesystem(of container: String, lookUp: () async throws -> ContainerFilesystem) async throws -> ContainerFilesystem {
        if let filesystem = known.withLock({ $0[container] }) { return filesystem }
        let found = try await lookUp()
        let usable = ContainerFilesystem(
            writableLayer: found.writableLayer.flatMap { FileManager.default.isReadableFile(atPath: $0) ? $0 : nil },
            root: found.root.flatMap { geteuid() == 0 && Self.isWritableDirectory($0) ? $0 : nil }, initProcess: found.initProcess)
        known.withLock { cache in
            if cache.count >= limit { cache.removeAll() }
            cache[container] = usable
        }
        return usable
    }

    /// A builder in a mount namespace of its own (a hardened systemd unit) may see the engine's directories
    /// read-only: then the engine's archive calls are used.
    private static func isWritableDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && access(path, W_OK) == 0
    }
}
