import BuilderCore
import Foundation
import KilnProtocol
import KilnTestSupport
import RedisClient
import ResultCache
import Synchronization
import Testing

/// Two builders' result caches (each its own directory) sharing one real redis-server.
@Suite(.enabled(if: RedisServerProcess.missingReason == nil, Comment(rawValue: RedisServerProcess.missingReason ?? "")))
struct SharedTierTests {
    typealias GatedBuild = ResultCacheCoalescingTests.GatedBuild

    /// The shared-tier events one builder's cache reported.
    final class EventLog: Sendable {
        let events = Mutex<[ResultCache.SharedEvent]>([])
        /// Notified on each event: tests wait on it, not on time.
        let changed = ChangeSignal()

        func record(_ event: ResultCache.Event) {
            guard case .shared(let shared) = event else { return }
            events.withLock { $0.append(shared) }
            changed.notify()
        }
    }

    /// One builder's cache (its own directory) on the Redis at `port`.
    final class Builder: Sendable {
        let cache: ResultCache
        let log = EventLog()
        let directory: TemporaryDirectory

        init(
            port: UInt16, settings: SharedTierSettings = .fast, clock: ErasedClock = ErasedClock(ContinuousClock()),
            timeout: Duration = .milliseconds(500)
        ) throws {
            directory = try TemporaryDirectory(prefix: "kiln-rc-shared")
            let client = RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(port)), timeout: timeout)
            cache = ResultCache(
                store: try ResultCacheStore(settings: ResultCacheStoreTests.settings(directory)), shared: RedisResultTier(client: client),
                sharedSettings: settings, clock: clock, onEvent: log.record)
        }

        /// Failed calls, and how many of them started an outage (what the log reports).
        var failures: (calls: Int, outages: Int) {
            log.events.withLock { events in
                events.reduce(into: (0, 0)) { counts, event in
                    if case .failed(_, let first) = event { counts = (counts.0 + 1, counts.1 + (first ? 1 : 0)) }
                }
            }
        }
        func saw(_ event: ResultCache.SharedEvent) -> Bool { log.events.withLock { $0.contains(event) } }
        func waitToSee(_ event: ResultCache.SharedEvent) async { await log.changed.wait { saw(event) } }
    }

    @Test func aResultBuiltOnOneBuilderIsServedOnAnotherAndKeptThere() async throws {
        let redis = try RedisServerProcess()
        let (first, second) = (try Builder(port: redis.port), try Builder(port: redis.port))
        let key = ResultCacheStoreTests.key("one")
        let build = GatedBuild()
        build.release()
        #expect(try await first.cache.result(for: key, build: build.run).source == .built)
        await first.cache.settle()  // the entry is published after the answer
        #expect(first.saw(.miss) && first.saw(.published))
        let served = try await second.cache.result(for: key, build: build.run)
        #expect(served.source == .shared && served.result == ResultCacheStoreTests.result(code: 1))
        #expect(build.runs.withLock { $0 } == 1)
        // Written to the second builder's disk: served from there even with Redis gone.
        redis.stop()
        #expect(try await second.cache.result(for: key, build: build.run).source == .hit)
    }

    /// The entry is published after the job's answer: a Redis that hangs then delays no answer, and an identical
    /// job that arrives before the entry is written is served the result, not built again.
    @Test func theEntryIsPublishedAfterTheAnswerAndServedMeanwhile() async throws {
        let redis = try RedisServerProcess()
        defer { redis.resume() }
        // A deadline far beyond the test: a publish on the job's path would make the job wait for it.
        let builder = try Builder(port: redis.port, timeout: .seconds(60))
        let key = ResultCacheStoreTests.key("after")
        let build = GatedBuild()
        let lead = try await ResultCacheCoalescingTests.startLead(on: builder.cache, key: key, build: build)
        redis.pause()
        build.release()
        #expect(try await lead.value.source == .built)
        #expect(!builder.saw(.published) && builder.failures.calls == 0, "the answer did not wait for the publish")
        let again = try await builder.cache.result(for: key, build: build.run)
        #expect(again.source == .hit && again.result == ResultCacheStoreTests.result(code: 1))
        #expect(build.runs.withLock { $0 } == 1)
        redis.resume()
        await builder.cache.settle()
        #expect(builder.saw(.published) && builder.failures.calls == 0)
        #expect(try await Self.stored(key, redis) != nil)
    }

    @Test func identicalJobsOnTwoBuildersCompileOnce() async throws {
        let redis = try RedisServerProcess()
        let (first, second) = (try Builder(port: redis.port), try Builder(port: redis.port))
        let key = ResultCacheStoreTests.key("twice")
        let build = GatedBuild()
        let lead = try await ResultCacheCoalescingTests.startLead(on: first.cache, key: key, build: build)
        let waiter = Task { try await second.cache.result(for: key, build: build.run) }
        await second.waitToSee(.leaseWait)
        build.release()
        #expect(try await lead.value.source == .built)
        let served = try await waiter.value
        #expect(served.source == .shared && served.result == ResultCacheStoreTests.result(code: 1))
        #expect(build.runs.withLock { $0 } == 1)
    }

    @Test func whenTheLeadingBuilderFailsAWaitingOneBuilds() async throws {
        let redis = try RedisServerProcess()
        let (first, second) = (try Builder(port: redis.port), try Builder(port: redis.port))
        let key = ResultCacheStoreTests.key("fails")
        let build = GatedBuild(failFirst: true)
        let lead = try await ResultCacheCoalescingTests.startLead(on: first.cache, key: key, build: build)
        let waiter = Task { try await second.cache.result(for: key, build: build.run) }
        await second.waitToSee(.leaseWait)
        build.release()
        await #expect(throws: ResultCacheCoalescingTests.SandboxBroke.self) { try await lead.value }
        let served = try await waiter.value
        #expect(served.source == .built && served.result == ResultCacheStoreTests.result(code: 2))
    }

    @Test func aBuilderThatDiedMidBuildHandsOverWhenItsLeaseLapses() async throws {
        let redis = try RedisServerProcess()
        let second = try Builder(port: redis.port)
        let key = ResultCacheStoreTests.key("orphan")
        // A builder that took the lease and was killed: nobody renews or releases it.
        let dead = RedisResultTier(client: Self.client(redis))
        #expect(try await dead.claim(key, owner: "killed-builder", lease: .seconds(600)) == .lead)
        let build = GatedBuild()
        build.release()
        let waiter = Task { try await second.cache.result(for: key, build: build.run) }
        await second.waitToSee(.leaseWait)
        #expect(build.runs.withLock { $0 } == 0)
        // Redis's own expiry ends the lease (brought forward: the test does not wait 600 s).
        #expect(try await Self.client(redis).command(["PEXPIRE", "kiln:lease:\(key.hex)", "1"]) == .integer(1))
        #expect(try await waiter.value.source == .built)
        await second.cache.settle()
        #expect(try await dead.claim(key, owner: "third", lease: .seconds(1)) == .entry(try #require(await Self.stored(key, redis))))
    }

    @Test func aLeaseIsRenewedWhileTheCompileRuns() async throws {
        let redis = try RedisServerProcess()
        let clock = ManualClock()
        var settings = SharedTierSettings.fast
        settings.lease = .seconds(60)
        let first = try Builder(port: redis.port, settings: settings, clock: ErasedClock(clock))
        let key = ResultCacheStoreTests.key("long")
        let build = GatedBuild()
        let lead = try await ResultCacheCoalescingTests.startLead(on: first.cache, key: key, build: build)
        let client = Self.client(redis)
        // As if most of the lease had passed in Redis; then a third of the lease passes on the builder's clock.
        _ = try await client.command(["PEXPIRE", "kiln:lease:\(key.hex)", "5000"])
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(20))
        var remaining: Int64 = 0
        for _ in 0..<500 {
            guard case .integer(let milliseconds) = try await client.command(["PTTL", "kiln:lease:\(key.hex)"]) else { break }
            remaining = milliseconds
            if remaining > 10_000 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(remaining > 10_000, "the lease was renewed to a full 60 s")
        let other = RedisResultTier(client: client)
        #expect(try await other.claim(key, owner: "other", lease: .seconds(1)) == .held)
        build.release()
        #expect(try await lead.value.source == .built)
    }

    @Test func aDamagedSharedEntryIsAMissAndIsReplaced() async throws {
        let redis = try RedisServerProcess()
        let builder = try Builder(port: redis.port)
        let key = ResultCacheStoreTests.key("damaged")
        let client = Self.client(redis)
        var entry = try ResultCacheEntry(createdAt: UInt64(Date().timeIntervalSince1970), result: ResultCacheStoreTests.result(code: 9))
            .encoded(key: key.hex)
        entry[entry.count / 2] ^= 0xFF
        _ = try await client.command([Array("SET".utf8), Array("kiln:result:2:\(key.hex)".utf8), entry])
        let build = GatedBuild()
        build.release()
        let served = try await builder.cache.result(for: key, build: build.run)
        #expect(served.source == .built && served.result == ResultCacheStoreTests.result(code: 1) && builder.saw(.damaged))
        await builder.cache.settle()
        let replaced = try #require(await Self.stored(key, redis))
        #expect(try ResultCacheEntry.decode(replaced, key: key.hex).result == ResultCacheStoreTests.result(code: 1))
    }

    @Test func aWaiterWhoseClientLeavesStopsWaiting() async throws {
        let redis = try RedisServerProcess()
        let builder = try Builder(port: redis.port)
        let key = ResultCacheStoreTests.key("left")
        let other = RedisResultTier(client: Self.client(redis))
        #expect(try await other.claim(key, owner: "other", lease: .seconds(60)) == .lead)
        let build = GatedBuild()
        let waiter = Task { try await builder.cache.result(for: key, build: build.run) }
        await builder.waitToSee(.leaseWait)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(build.runs.withLock { $0 } == 0)
    }

    @Test func redisDownIsLoggedOnceAndNeverFailsAJobAndSharingResumes() async throws {
        let redis = try RedisServerProcess()
        redis.stop()
        let clock = ManualClock()
        var settings = SharedTierSettings.fast
        settings.pauseAfterFailure = .seconds(5)
        let builder = try Builder(port: redis.port, settings: settings, clock: ErasedClock(clock))
        let build = GatedBuild()
        build.release()
        #expect(try await builder.cache.result(for: ResultCacheStoreTests.key("a"), build: build.run).source == .built)
        #expect(try await builder.cache.result(for: ResultCacheStoreTests.key("b"), build: build.run).source == .built)
        await builder.cache.settle()
        // One failed call: the second job did not ask a Redis known to be down.
        #expect(builder.failures == (1, 1))
        try redis.start()
        clock.advance(by: .seconds(5))
        #expect(try await builder.cache.result(for: ResultCacheStoreTests.key("c"), build: build.run).source == .built)
        await builder.cache.settle()
        #expect(builder.saw(.recovered) && builder.saw(.published) && builder.failures == (1, 1))
        #expect(try await Self.stored(ResultCacheStoreTests.key("c"), redis) != nil)
    }

    @Test func redisStoppedMidBuildChangesNothingButTheSharing() async throws {
        let redis = try RedisServerProcess()
        let builder = try Builder(port: redis.port)
        let key = ResultCacheStoreTests.key("mid")
        let build = GatedBuild()
        let lead = try await ResultCacheCoalescingTests.startLead(on: builder.cache, key: key, build: build)
        redis.stop()
        build.release()
        let served = try await lead.value
        #expect(served.source == .built && served.result == ResultCacheStoreTests.result(code: 1))
        await builder.cache.settle()
        #expect(builder.failures.calls >= 1)
        #expect(try await builder.cache.result(for: key, build: build.run).source == .hit)
    }

    /// The raw entry Redis holds for `key`.
    static func stored(_ key: ResultCacheKey, _ redis: RedisServerProcess) async throws -> [UInt8]? {
        try await client(redis).command(["GET", "kiln:result:2:\(key.hex)"]).bytes
    }

    static func client(_ redis: RedisServerProcess) -> RedisClient {
        RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(redis.port)))
    }

}

extension SharedTierSettings {
    /// Short polls for tests that wait on another builder.
    static var fast: SharedTierSettings {
        var settings = SharedTierSettings()
        settings.firstPoll = .milliseconds(5)
        settings.longestPoll = .milliseconds(20)
        return settings
    }
}
