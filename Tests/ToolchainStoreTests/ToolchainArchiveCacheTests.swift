import BLAKE3
import Foundation
import KilnProtocol
import KilnTestSupport
import Testing
import ToolchainStore

@Suite struct ToolchainArchiveCacheTests {
    static func archiveID(_ bytes: [UInt8]) -> String {
        var hasher = BLAKE3Hasher()
        hasher.update(bytes)
        return DigestHex.sccache(hasher.finalize())
    }

    /// Streams `bytes` in odd-sized chunks, as a chunked HTTP body arrives.
    static func upload(_ bytes: [UInt8], to cache: ToolchainArchiveCache) async throws -> FinishedUpload {
        let upload = try await cache.beginUpload()
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + 7919)
            bytes[offset..<end].withUnsafeBytes { upload.write($0) }
            offset = end
        }
        return try upload.finish()
    }

    static func payload(_ seed: UInt8, count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 * 31) ^ seed } }

    @Test func commitsOnlyWhenTheBytesHashToTheID() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        let good = Self.payload(1, count: 100_000)
        let id = Self.archiveID(good)
        let forged = try await Self.upload(Self.payload(2, count: 100_000), to: cache)
        await #expect(throws: ToolchainStoreError.self) { try await cache.commit(forged, as: id) }
        #expect(await !cache.contains(id), "upstream keeps a mismatched upload; Kiln must not")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tc/.incoming").isEmpty)

        try await cache.commit(try await Self.upload(good, to: cache), as: id)
        #expect(await cache.contains(id))
        let stored = directory.path + "/tc/\(id.prefix(1))/\(id.dropFirst().prefix(1))/\(id)"
        #expect(FileManager.default.contents(atPath: stored) == Data(good), "stored at tc/<c0>/<c1>/<id> like upstream")
    }

    /// Pieces small and large, in any order (gathered before they are hashed and written, or taken as they are):
    /// the archive holds every byte in order, and its id is that of the whole.
    @Test func piecesOfAnySizeMakeTheSameArchive() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 4 << 20)
        let bytes = Self.payload(3, count: 600_000)
        let upload = try await cache.beginUpload()
        var offset = 0
        for size in [100, 70_000, 3, 65_536, 1, 200_000, 1023, 4097, 65_535] + Array(repeating: 4096, count: 48) {
            let end = min(bytes.count, offset + size)
            bytes[offset..<end].withUnsafeBytes { upload.write($0) }
            offset = end
        }
        bytes[offset...].withUnsafeBytes { upload.write($0) }
        let finished = try upload.finish()
        #expect(finished.size == UInt64(bytes.count))
        #expect(finished.archiveID == Self.archiveID(bytes))
        try await cache.commit(finished, as: Self.archiveID(bytes))
        let path = try #require(await cache.lease(Self.archiveID(bytes)))
        #expect(FileManager.default.contents(atPath: path) == Data(bytes), "the archive on disk is the upload, byte for byte")
    }

    /// Issue 19, hole 7: an archive torn while the builder was down (a power cut after the rename) no longer hashes
    /// to its id; it is evicted at its first use after the restart, and an intact one is served.
    @Test func anArchiveTornWhileTheBuilderWasDownIsEvictedAtFirstUse() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let (torn, intact) = (Self.payload(3, count: 300_000), Self.payload(4, count: 300_000))
        let (tornID, intactID) = (Self.archiveID(torn), Self.archiveID(intact))
        do {
            let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
            try await cache.commit(try await Self.upload(torn, to: cache), as: tornID)
            try await cache.commit(try await Self.upload(intact, to: cache), as: intactID)
        }
        let tornPath = directory.path + "/tc/\(tornID.prefix(1))/\(tornID.dropFirst().prefix(1))/\(tornID)"
        try Data(torn.prefix(100_000)).write(to: URL(fileURLWithPath: tornPath))
        let restarted = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        #expect(await restarted.contains(tornID), "not hashed at start: a builder with a full cache starts at once")
        async let first = restarted.lease(tornID)
        async let second = restarted.lease(tornID)
        let leases = await [first, second]
        #expect(leases == [nil, nil], "both jobs find it unusable")
        #expect(await !restarted.contains(tornID), "evicted: the next job asks the client for it again")
        #expect(!FileManager.default.fileExists(atPath: tornPath))
        #expect(await restarted.lease(intactID) != nil)
        await restarted.release(intactID)
    }

    @Test func anArchiveThatDoesNotUnpackIsDiscardedWhenItsLastJobReleasesIt() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20)
        let bytes = Self.payload(5, count: 50_000)
        let id = Self.archiveID(bytes)
        try await cache.commit(try await Self.upload(bytes, to: cache), as: id)
        #expect(await cache.lease(id) != nil)
        #expect(await cache.lease(id) != nil)
        await cache.discard(id)
        #expect(await cache.contains(id), "two jobs still use it")
        await cache.release(id)
        #expect(await cache.contains(id))
        await cache.release(id)
        #expect(await !cache.contains(id), "gone with its last job")
    }

    @Test func evictsLeastRecentlyUsedAndSurvivesARestart() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let blobs = (0..<3).map { Self.payload(UInt8($0 + 10), count: 40_000) }
        let ids = blobs.map(Self.archiveID)
        do {
            let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 100_000)
            try await cache.commit(try await Self.upload(blobs[0], to: cache), as: ids[0])
            try await cache.commit(try await Self.upload(blobs[1], to: cache), as: ids[1])
            let leased = await cache.lease(ids[0])
            #expect(leased != nil)
            await cache.release(ids[0])
            // Recency lives in file mtimes, which have one-second granularity on some filesystems.
            let past = Date().addingTimeInterval(-100)
            let path1 = directory.path + "/tc/\(ids[1].prefix(1))/\(ids[1].dropFirst().prefix(1))/\(ids[1])"
            try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: path1)
            try await cache.commit(try await Self.upload(blobs[2], to: cache), as: ids[2])
            #expect(await cache.archiveIDs == [ids[0], ids[2]], "ids[1] was least recently used")
        }
        let reopened = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 100_000)
        #expect(await reopened.archiveIDs.sorted() == [ids[0], ids[2]].sorted())
        #expect(await reopened.totalSize == 80_000)
    }

    @Test func aPinnedArchiveOutlivesPressureUntilReleased() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 50_000)
        let first = Self.payload(1, count: 40_000)
        let second = Self.payload(2, count: 40_000)
        try await cache.commit(try await Self.upload(first, to: cache), as: Self.archiveID(first))
        let path = try #require(await cache.lease(Self.archiveID(first)))
        try await cache.commit(try await Self.upload(second, to: cache), as: Self.archiveID(second))
        #expect(FileManager.default.fileExists(atPath: path), "in use by a job")
        await cache.release(Self.archiveID(first))
        #expect(!FileManager.default.fileExists(atPath: path), "evicted once released")
    }

    @Test func anUploadLargerThanTheCacheIsRefused() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-tc")
        let cache = try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 10_000)
        let big = Self.payload(3, count: 20_000)
        await #expect(throws: ToolchainStoreError.self) {
            try await cache.commit(try await Self.upload(big, to: cache), as: Self.archiveID(big))
        }
        #expect(await cache.totalSize == 0)
    }
}
