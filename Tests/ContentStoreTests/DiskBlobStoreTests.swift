import Foundation
import KilnTestSupport
import Testing

@testable import ContentStore

@Suite struct DiskBlobStoreTests {
    static func payload(_ seed: UInt8, count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 * 31) ^ seed } }

    /// The SHA-256 of "abc" from FIPS 180-2, and of nothing: the digests REAPI clients compute.
    @Test func digestsAreLowercaseHexSHA256() throws {
        #expect(BlobDigest.of(Array("abc".utf8)).hash == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(BlobDigest.empty.hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(BlobDigest.empty.sizeBytes == 0)
        #expect(throws: ContentStoreError.self) { try BlobDigest(hash: String(repeating: "A", count: 64), sizeBytes: 1) }
        #expect(throws: ContentStoreError.self) { try BlobDigest(hash: "abc", sizeBytes: 1) }
        #expect(throws: ContentStoreError.self) { try BlobDigest(hash: BlobDigest.empty.hash, sizeBytes: -1) }
        #expect(throws: ContentStoreError.self) { try BlobDigest(hash: "../" + String(repeating: "a", count: 61), sizeBytes: 1) }
    }

    @Test func storesOnlyBytesThatMatchTheirDigest() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let store = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
        let bytes = Self.payload(1, count: 70_000)
        let digest = BlobDigest.of(bytes)
        #expect(await store.missing([digest, .empty]) == [digest], "the empty blob is always held")
        await #expect(throws: ContentStoreError.self) { try await store.write(Self.payload(2, count: 70_000), as: digest) }
        let wrongSize = try BlobDigest(hash: digest.hash, sizeBytes: 69_999)
        await #expect(throws: ContentStoreError.self) { try await store.write(bytes, as: wrongSize) }
        #expect(await store.missing([digest]) == [digest])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/.incoming").isEmpty, "nothing left behind")

        try await store.write(bytes, as: digest)
        #expect(await store.missing([digest]) == [])
        #expect(try await store.read(digest) == bytes)
        #expect(try await store.read(.empty) == [])
        let file = try #require(try await store.open(digest))
        #expect(file.size == bytes.count)
        #expect(try file.read(offset: 69_990, count: 100) == Array(bytes[69_990...]))
    }

    /// A blob altered on disk (torn by a crash, or changed by hand) is never served: it is dropped and reported
    /// missing, so the client sends it again.
    @Test func aBlobThatNoLongerMatchesIsDroppedWhenRead() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let bytes = Self.payload(3, count: 5000)
        let digest = BlobDigest.of(bytes)
        do {
            let store = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
            try await store.write(bytes, as: digest)
        }
        let path = "\(directory.path)/\(digest.hash.prefix(2))/\(digest.hash)_\(digest.sizeBytes)"
        var altered = bytes
        altered[17] ^= 1
        try Data(altered).write(to: URL(fileURLWithPath: path))

        let reopened = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
        #expect(await reopened.missing([digest]) == [], "the size still matches: it counts as held until read")
        #expect(try await reopened.read(digest) == nil)
        #expect(await reopened.missing([digest]) == [digest])
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Many blobs in one read (an input root): each checked as a single read is; an altered one is dropped and left
    /// out with those never stored, the empty blob is always there.
    @Test func manyBlobsAreReadAndCheckedAtOnce() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let store = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
        let blobs = (0..<3).map { Self.payload(UInt8(10 + $0), count: 3000 + $0) }
        let digests = blobs.map { BlobDigest.of($0) }
        for (blob, digest) in zip(blobs, digests) { try await store.write(blob, as: digest) }
        let altered = digests[2]
        try Data(Self.payload(99, count: 3002)).write(to: URL(fileURLWithPath: "\(directory.path)/\(altered.hash.prefix(2))/\(altered.hash)_3002"))
        let never = BlobDigest.of(Self.payload(7, count: 10))
        // A new store: the first one holds what it just wrote in memory (see the next test).
        let reopened = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
        let read = try await reopened.read(digests + [never, .empty, digests[0]])
        #expect(read == [digests[0]: blobs[0], digests[1]: blobs[1], .empty: []])
        #expect(await reopened.missing([altered, digests[1]]) == [altered], "the altered blob was dropped")
    }

    /// Small blobs just written (or read) are served from memory, checked as they came in: a file altered behind
    /// one is not read again until the store forgets it (here, at a restart). A blob over the memory's bound is
    /// read from disk and checked each time.
    @Test func recentBlobsAreServedFromMemory() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let store = try DiskBlobStore(directory: directory.path, capacity: 16 << 20)
        let (small, large) = (Self.payload(30, count: 5000), Self.payload(31, count: RecentBlobs.maxBlobBytes + 1))
        let digests = [BlobDigest.of(small), BlobDigest.of(large)]
        try await store.write(small, as: digests[0])
        try await store.write(large, as: digests[1])
        for (digest, bytes) in zip(digests, [small, large]) {
            var altered = bytes
            altered[17] ^= 1
            try Data(altered).write(to: URL(fileURLWithPath: "\(directory.path)/\(digest.hash.prefix(2))/\(digest.fileName)"))
        }
        #expect(try await store.read(digests[0]) == small, "served from memory")
        let file = try #require(try await store.open(digests[0]))
        #expect(try file.read(offset: 4990, count: 100) == Array(small[4990...]))
        #expect(try await store.read(digests[1]) == nil, "read from disk, checked and dropped")
        let reopened = try DiskBlobStore(directory: directory.path, capacity: 16 << 20)
        #expect(try await reopened.read(digests[0]) == nil, "after a restart the file is checked")
    }

    /// A blob a client asks about counts as used: its file is marked at once when the store does not hold it in
    /// memory; one held in memory had its file marked within the minute and is not marked again per question.
    @Test func blobsAskedAboutCountAsUsed() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let blob = Self.payload(32, count: 3000)
        let digest = BlobDigest.of(blob)
        let path = "\(directory.path)/\(digest.hash.prefix(2))/\(digest.fileName)"
        let old = Date(timeIntervalSinceNow: -3600)
        let store = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
        try await store.write(blob, as: digest)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        #expect(await store.missing([digest]) == [])
        let modified = { try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date ?? .distantPast }
        // Compared with half of the hour it was set back by: a time read back from the file is rounded.
        let halfway = Date(timeIntervalSinceNow: -1800)
        #expect(try modified() < halfway, "held in memory, written just now: no mark per question")

        let reopened = try DiskBlobStore(directory: directory.path, capacity: 1 << 20)
        #expect(await reopened.missing([digest]) == [])
        #expect(try modified() > halfway, "not in memory: marked at once")
    }

    /// An action's results stored in one batch: the digests of the bytes in order, each blob once, the empty one
    /// never; a blob already held is not written again but counts as used; all of it there after a restart.
    @Test func manyBlobsAreStoredAtOnce() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let (first, second) = (Self.payload(20, count: 30_000), Self.payload(21, count: 12))
        let store = try DiskBlobStore(directory: directory.path, capacity: 100_000)
        let digests = try await store.store([first, [], second, first])
        #expect(digests == [.of(first), .empty, .of(second), .of(first)])
        #expect(await store.count == 2)
        #expect(await store.totalSize == 30_012)
        #expect(try await store.read(digests) == [digests[0]: first, .empty: [], digests[2]: second])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/.incoming").isEmpty, "nothing left behind")

        let path = "\(directory.path)/\(digests[0].hash.prefix(2))/\(digests[0].hash)_30000"
        let old = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        #expect(try await store.store([first]) == [digests[0]])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.systemFileNumber] as? Int == inode, "a held blob is not written again")
        #expect((attributes[.modificationDate] as? Date ?? old) > old, "but it counts as used")

        await #expect(throws: ContentStoreError.self) { try await store.store([Self.payload(22, count: 100_001)]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/.incoming").isEmpty)
        let reopened = try DiskBlobStore(directory: directory.path, capacity: 100_000)
        #expect(await reopened.missing(digests) == [])
        #expect(try await reopened.read(digests[2]) == second)
    }

    /// Blobs and their order of use survive a restart; the least recently used go first when the store is full.
    @Test func survivesARestartAndEvictsTheLeastRecentlyUsed() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-cas")
        let blobs = (0..<4).map { Self.payload(UInt8($0), count: 40_000) }
        let digests = blobs.map { BlobDigest.of($0) }
        do {
            let store = try DiskBlobStore(directory: directory.path, capacity: 100_000)
            for (blob, digest) in zip(blobs, digests).prefix(2) { try await store.write(blob, as: digest) }
        }
        // mtimes are the recency across restarts; make the first blob the older one beyond doubt.
        let first = "\(directory.path)/\(digests[0].hash.prefix(2))/\(digests[0].hash)_40000"
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: first)

        let store = try DiskBlobStore(directory: directory.path, capacity: 100_000)
        #expect(await store.count == 2)
        try await store.write(blobs[2], as: digests[2])
        #expect(await store.missing(digests) == [digests[0], digests[3]], "the least recently used went first")
        #expect(await store.totalSize == 80_000)
        await #expect(throws: ContentStoreError.self) {
            try await store.write(Self.payload(9, count: 100_001), as: .of(Self.payload(9, count: 100_001)))
        }
    }

    /// The action cache's entries are keyed by an action's digest, not their own: any bytes are taken.
    @Test func anActionCacheKeysEntriesByTheActionDigest() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-ac")
        let store = try DiskBlobStore(directory: directory.path, capacity: 1 << 20, verifiesContent: false)
        let action = BlobDigest.of(Array("an action".utf8))
        try await store.write(Array("its result".utf8), as: action)
        try await store.write(Array("its newer result".utf8), as: action)
        #expect(try await store.read(action) == Array("its newer result".utf8))
        #expect(await store.totalSize == 16)
        let reopened = try DiskBlobStore(directory: directory.path, capacity: 1 << 20, verifiesContent: false)
        #expect(try await reopened.read(action) == Array("its newer result".utf8))
    }
}
