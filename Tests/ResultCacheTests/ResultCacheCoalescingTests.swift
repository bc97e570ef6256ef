import BuilderCore
import Foundation
import KilnProtocol
import KilnTestSupport
import ResultCache
import Synchronization
import Testing

@Suite struct ResultCacheCoalescingTests {
    struct SandboxBroke: Error {}

    /// A build that counts its runs and holds until the test opens it.
    final class GatedBuild: Sendable {
        let runs = Mutex(0)
        private let open = Mutex(false)
        /// Notified when a run starts and when the gate opens: the test and the runs wait on it, never on time.
        let changed = ChangeSignal()
        let failFirst: Bool

        init(failFirst: Bool = false) { self.failFirst = failFirst }

        func release() {
            open.withLock { $0 = true }
            changed.notify()
        }

        func run() async throws -> JobComplete {
            let run = runs.withLock { value in
                value += 1
                return value
            }
            changed.notify()
            await changed.wait { open.withLock { $0 } }
            try Task.checkCancellation()
            if failFirst && run == 1 { throw SandboxBroke() }
            return ResultCacheStoreTests.result(code: Int32(run))
        }
    }

    static func cache(_ directory: TemporaryDirectory) throws -> ResultCache {
        ResultCache(store: try ResultCacheStore(settings: ResultCacheStoreTests.settings(directory)))
    }

    /// A job that leads for `key` and is running its (gated) build.
    static func startLead(
        on cache: ResultCache, key: ResultCacheKey, build: GatedBuild
    ) async throws -> Task<
        (result: JobComplete, source: ResultCache.Source), any Error
    > {
        let lead = Task { try await cache.result(for: key, build: build.run) }
        await build.changed.wait { build.runs.withLock { $0 } > 0 }
        return lead
    }

    static func waitForWaiters(_ count: Int, on cache: ResultCache, key: ResultCacheKey) async throws {
        // Waiters queue on the cache's actor without a notification; yielding (bounded) lets them get there.
        for _ in 0..<1_000_000 where await cache.waiterCount(for: key) < count { await Task.yield() }
        try #require(await cache.waiterCount(for: key) >= count, "\(count) waiters queued")
    }

    @Test func sixteenIdenticalJobsBuildOnceAndTheNextIsAHit() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let cache = try Self.cache(directory)
        let key = ResultCacheStoreTests.key("same")
        let build = GatedBuild()
        try await withThrowingTaskGroup(of: ResultCache.Source.self) { group in
            for _ in 0..<16 { group.addTask { try await cache.result(for: key, build: build.run).source } }
            try await Self.waitForWaiters(15, on: cache, key: key)
            build.release()
            var sources: [ResultCache.Source] = []
            for try await source in group { sources.append(source) }
            #expect(sources.filter { $0 == .built }.count == 1)
            #expect(sources.filter { $0 == .coalesced }.count == 15)
        }
        #expect(build.runs.withLock { $0 } == 1)
        let again = try await cache.result(for: key, build: build.run)
        #expect(again.source == .hit && again.result == ResultCacheStoreTests.result(code: 1))
        #expect(build.runs.withLock { $0 } == 1)
    }

    @Test func whenTheLeadFailsTheNextWaiterBuilds() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let (cache, key, build) = (try Self.cache(directory), ResultCacheStoreTests.key("flaky"), GatedBuild(failFirst: true))
        let lead = try await Self.startLead(on: cache, key: key, build: build)
        let waiters = (0..<4).map { _ in Task { try await cache.result(for: key, build: build.run) } }
        try await Self.waitForWaiters(4, on: cache, key: key)
        build.release()
        await #expect(throws: SandboxBroke.self) { try await lead.value }
        var sources: [ResultCache.Source] = []
        for waiter in waiters {
            let served = try await waiter.value
            #expect(served.result == ResultCacheStoreTests.result(code: 2), "all share the second build")
            sources.append(served.source)
        }
        #expect(sources.sorted { $0.rawValue < $1.rawValue } == [.built, .coalesced, .coalesced, .coalesced])
        #expect(build.runs.withLock { $0 } == 2)
    }

    @Test func aWaiterWhoseClientLeftStopsWaitingAndOthersAreServed() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let (cache, key, build) = (try Self.cache(directory), ResultCacheStoreTests.key("cancel"), GatedBuild())
        let lead = try await Self.startLead(on: cache, key: key, build: build)
        let gone = Task { try await cache.result(for: key, build: build.run) }
        let stays = Task { try await cache.result(for: key, build: build.run) }
        try await Self.waitForWaiters(2, on: cache, key: key)
        gone.cancel()
        await #expect(throws: CancellationError.self) { try await gone.value }
        #expect(await cache.waiterCount(for: key) == 1)
        build.release()
        #expect(try await lead.value.source == .built)
        #expect(try await stays.value.source == .coalesced)
        #expect(build.runs.withLock { $0 } == 1)
    }
}
