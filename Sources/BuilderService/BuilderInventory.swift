import Hummingbird
import KilnMetrics
import Metrics
import ResultCache
import ServiceSupport
import ToolchainStore

/// What a build server holds and does right now: served as JSON at `/api/v1/kiln/toolchains` (on its HTTPS port
/// and on `metrics_addr`), and read into the gauges before each `/metrics` scrape.
struct BuilderInventory: Sendable, Codable {
    struct CachedToolchain: Sendable, Codable {
        var archiveID: String
        var bytes: UInt64
        /// A job uses it now (it cannot be evicted).
        var inUse: Bool
    }

    var server: String
    /// Most recently used first.
    var toolchains: [CachedToolchain]
    var toolchainBytes: UInt64
    var toolchainCapacity: UInt64
    var slots: Int
    var slotsBusy: Int
    var jobsWaitingForSlot: Int
    var resultCacheEntries: Int?
    var resultCacheBytes: UInt64?
    var draining: Bool

    static let route = "api/v1/kiln/toolchains"
}

extension BuildServer {
    func inventory() async -> BuilderInventory {
        let toolchains = await archives.inventory.map { BuilderInventory.CachedToolchain(archiveID: $0.archiveID, bytes: $0.bytes, inUse: $0.inUse) }
        return BuilderInventory(
            server: "\(identity.serverID)", toolchains: toolchains, toolchainBytes: await archives.totalSize,
            toolchainCapacity: await archives.capacity, slots: slots.capacity, slotsBusy: await slots.busy,
            jobsWaitingForSlot: await slots.queued, resultCacheEntries: results?.store.entryCount, resultCacheBytes: results?.store.totalBytes,
            draining: isDraining)
    }

    /// Sets the gauges from the current state.
    func refreshGauges() async {
        let now = await inventory()
        metrics.toolchainCacheBytes.record(Int64(clamping: now.toolchainBytes))
        metrics.toolchainCacheEntries.record(now.toolchains.count)
        metrics.resultCacheBytes.record(Int64(clamping: now.resultCacheBytes ?? 0))
        metrics.resultCacheEntries.record(now.resultCacheEntries ?? 0)
        metrics.slotsBusy.record(now.slotsBusy)
        metrics.slotsTotal.record(now.slots)
        metrics.draining.record(now.draining ? 1 : 0)
    }

    /// `GET /api/v1/kiln/toolchains`.
    func registerInventory(on router: Router<KilnRequestContext>) {
        router.get(RouterPath(BuilderInventory.route)) { _, _ in
            try WireHTTP.okJSON(await self.inventory())
        }
    }
}
