import Foundation
import Synchronization

/// The host directory of each container's writable layer, asked of the engine once per container rather than once
/// per job (a container is reused for many jobs and keeps its layer for its whole life). Nil is cached too: the
/// driver has no such directory, or the builder may not read it.
final class WritableLayerCache: Sendable {
    private let layers = Mutex<[String: String?]>([:])
    /// Containers come and go; past this many entries the cache starts again.
    private let limit = 512

    func layer(of container: String, lookUp: () async throws -> String?) async throws -> String? {
        if let known = layers.withLock({ $0[container] }) { return known }
        let found = try await lookUp().flatMap { FileManager.default.isReadableFile(atPath: $0) ? $0 : nil }
        layers.withLock { cache in
            if cache.count >= limit { cache.removeAll() }
            cache[container] = .some(found)
        }
        return found
    }
}
