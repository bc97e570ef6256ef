import Foundation
import KilnTestSupport
import Testing
import ToolchainStore

/// Toolchains on their way in: while one upload of an archive is under way, jobs are not asked for it again and
/// their builds wait for it. The time limits turn a wait that never ends into a failure.
@Suite struct ToolchainArrivalTests {
    typealias Cache = ToolchainArchiveCacheTests

    static func write(_ bytes: [UInt8], into upload: ToolchainUpload) {
        bytes.withUnsafeBytes { upload.write($0) }
    }

    /// Returns once `count` builds wait for an upload (so that the test ends the upload during the wait).
    static func untilWaiting(_ count: Int, in cache: ToolchainArchiveCache) async throws {
        while await cache.buildsAwaitingUploads < count { try await Task.sleep(for: .milliseconds(1)) }
    }

    @Test(.timeLimit(.minutes(1))) func aBuildWaitsForTheUploadUnderWayAndGetsTheArchive() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        let bytes = Cache.payload(5, count: 50_000)
        let id = Cache.archiveID(bytes)
        #expect(await !cache.holdsOrAwaits(id))
        let upload = try await cache.beginUpload(of: id)
        #expect(await cache.holdsOrAwaits(id), "a job assigned now is not asked to upload it too")
        #expect(await !cache.contains(id))
        let lease = Task { await cache.lease(id, patience: .seconds(3600)) }
        try await Self.untilWaiting(1, in: cache)
        Self.write(bytes, into: upload)
        try await cache.commit(try upload.finish(), as: id)
        await cache.uploadEnded(id)
        let path = try #require(await lease.value)
        #expect(FileManager.default.contents(atPath: path) == Data(bytes))
        await cache.release(id)
    }

    @Test(.timeLimit(.minutes(1))) func aFailedUploadEndsTheWaitWithNoArchiveAndAsksAgain() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        let id = Cache.archiveID(Cache.payload(6, count: 10_000))
        let upload = try await cache.beginUpload(of: id)
        let lease = Task { await cache.lease(id, patience: .seconds(3600)) }
        try await Self.untilWaiting(1, in: cache)
        Self.write(Cache.payload(7, count: 10_000), into: upload)  // not the archive of that id
        await #expect(throws: ToolchainStoreError.self) { try await cache.commit(try upload.finish(), as: id) }
        await cache.uploadEnded(id)
        #expect(await lease.value == nil)
        #expect(await !cache.holdsOrAwaits(id), "the next job is asked for the archive again")
        #expect(await cache.buildsAwaitingUploads == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aWaitEndsAfterItsPatienceWhileTheUploadGoesOn() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        let bytes = Cache.payload(8, count: 10_000)
        let id = Cache.archiveID(bytes)
        let upload = try await cache.beginUpload(of: id)
        #expect(await cache.lease(id, patience: .milliseconds(50)) == nil)
        #expect(await cache.holdsOrAwaits(id))
        Self.write(bytes, into: upload)
        try await cache.commit(try upload.finish(), as: id)
        await cache.uploadEnded(id)
        #expect(await cache.lease(id) != nil)
    }

    /// Two clients uploading the same archive at once: it is awaited until both have ended.
    @Test func concurrentUploadsOfOneArchiveAreCountedUntilTheLastEnds() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        let id = Cache.archiveID(Cache.payload(9, count: 1_000))
        let first = try await cache.beginUpload(of: id)
        let second = try await cache.beginUpload(of: id)
        await cache.uploadEnded(id)
        #expect(await cache.holdsOrAwaits(id))
        await cache.uploadEnded(id)
        #expect(await !cache.holdsOrAwaits(id))
        _ = (first, second)
    }
}
