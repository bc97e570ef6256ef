import Logging
import ResultCache
import ServiceLifecycle

/// Removes expired result cache entries in the background (every ten minutes, and once at start), so entries
/// nobody asks for again do not hold disk until LRU eviction reaches them.
struct ResultCacheSweepService: Service {
    let store: ResultCacheStore
    let logger: Logger
    var interval: Duration = .seconds(600)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let removed = await store.sweepExpired()
                if removed > 0 { logger.info("result cache: \(removed) expired entries removed") }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
