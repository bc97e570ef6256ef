import BlockingPool
import BuilderCore
import Foundation
import KilnErrors

/// Blobs on disk under `directory/<first two hex digits>/<hash>_<size>`, an LRU bounded by total bytes whose
/// recency is kept in file mtimes, so the store and its order survive restarts. A blob is written to a temporary
/// file and renamed into place.
///
/// As the content-addressable storage (`verifiesContent`), every blob is checked against its digest when it is
/// written and again each time it is read: one that no longer matches (a torn or altered file) is removed and
/// reported missing, and the client uploads it again. As the action cache, the digest is only a key. The content
/// store also holds the small blobs it lately wrote or read in memory (``RecentBlobs``), checked as they came in.
public actor DiskBlobStore {
    let directory: String
    let verifiesContent: Bool
    var index: LRUIndex<BlobDigest>
    var recent: RecentBlobs
    var uploads = 0

    /// The most bytes of recent blobs a content store holds in memory.
    public static let recentCapacity: UInt64 = 64 << 20

    /// Opens (creating if needed) the store in `directory` and takes in what an earlier run left there.
    public init(directory: String, capacity: UInt64, verifiesContent: Bool = true) throws {
        self.directory = directory
        self.verifiesContent = verifiesContent
        index = LRUIndex(capacity: capacity)
        recent = RecentBlobs(capacity: verifiesContent ? min(Self.recentCapacity, capacity / 4) : 0)
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: directory + "/.incoming", withIntermediateDirectories: true)
            for stale in try files.contentsOfDirectory(atPath: directory + "/.incoming") {
                try? files.removeItem(atPath: directory + "/.incoming/" + stale)
            }
        } catch {
            throw ContentStoreError(.io, "cannot create the blob store in '\(directory)'; check it is writable", underlying: error)
        }
        var found: [(key: BlobDigest, size: UInt64, lastUse: Date)] = []
        for path in (files.subpaths(atPath: directory) ?? []) where !path.hasPrefix(".") {
            let parts = path.split(separator: "/")
            guard parts.count == 2, let digest = BlobDigest(fileName: String(parts[1])),
                let attributes = try? files.attributesOfItem(atPath: directory + "/" + path),
                attributes[.type] as? FileAttributeType == .typeRegular,
                (attributes[.size] as? NSNumber)?.int64Value == digest.sizeBytes || !verifiesContent
            else { continue }
            let size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
            found.append((digest, size, attributes[.modificationDate] as? Date ?? .distantPast))
        }
        for evicted in index.restore(found) { unlink(Self.path(of: evicted, in: directory)) }
    }

    public var totalSize: UInt64 { index.totalSize }
    public var capacity: UInt64 { index.capacity }
    public var count: Int { index.count }

    /// The digests not held, in the order asked. Those held count as used (a client asks before it relies on them).
    public func missing(_ digests: [BlobDigest]) -> [BlobDigest] {
        var marks: [String] = []
        let missing = digests.filter { digest in
            guard digest != .empty || !verifiesContent else { return false }
            guard index.touch(digest) else { return true }
            // A blob held in memory had its file marked within the minute: a client asking again for an action's
            // inputs costs no system call per digest.
            if recall(digest, marking: &marks) == nil { utimes(Self.path(of: digest, in: directory), nil) }
            return false
        }
        markUsed(marks)
        return missing
    }

    /// A whole blob, or nil when it is not held (or no longer matches its digest, and is dropped).
    public func read(_ digest: BlobDigest) async throws -> [UInt8]? { try await read([digest])[digest] }

    /// Whole blobs at once, each read once and checked against its digest, in one trip to the blocking pool (an
    /// action's input root is tens of small files); the digests not held (or no longer matching, then dropped) are
    /// absent.
    public func read(_ digests: [BlobDigest]) async throws -> [BlobDigest: [UInt8]] {
        var found: [BlobDigest: [UInt8]] = [:]
        var paths: [(BlobDigest, String)] = []
        var marks: [String] = []
        for digest in Set(digests) {
            if verifiesContent, digest == .empty {
                found[digest] = []
            } else if index.touch(digest) {
                if let bytes = recall(digest, marking: &marks) {
                    found[digest] = bytes
                } else {
                    paths.append((digest, Self.path(of: digest, in: directory)))
                }
            }
        }
        markUsed(marks)
        guard !paths.isEmpty else { return found }
        let (verify, held) = (verifiesContent, paths)
        let (read, damaged): ([BlobDigest: [UInt8]], [BlobDigest])
        do {
            (read, damaged) = try await BlockingWork.run {
                var read: [BlobDigest: [UInt8]] = [:]
                var damaged: [BlobDigest] = []
                for (digest, path) in held {
                    utimes(path, nil)
                    guard let file = BlobFile(path: path) else {
                        damaged.append(digest)
                        continue
                    }
                    let bytes = try file.read(offset: 0, count: file.size)
                    if verify && BlobDigest.of(bytes) != digest { damaged.append(digest) } else { read[digest] = bytes }
                }
                return (read, damaged)
            }
        } catch {
            throw ContentStoreError(.io, "cannot read blobs of the store", underlying: error)
        }
        for digest in damaged { drop(digest) }
        if verify { for (digest, bytes) in read { recent.remember(bytes, as: digest) } }
        return found.merging(read) { first, _ in first }
    }

    /// A held blob opened for reading in pieces (checked against its digest first); nil when it is not held.
    public func open(_ digest: BlobDigest) async throws -> BlobFile? {
        guard index.touch(digest) else { return verifiesContent && digest == .empty ? BlobFile.empty : nil }
        var marks: [String] = []
        if let bytes = recall(digest, marking: &marks) {
            markUsed(marks)
            return BlobFile(bytes: bytes)
        }
        let path = Self.path(of: digest, in: directory)
        let verify = verifiesContent
        let file: BlobFile?
        do {
            file = try await BlockingWork.run {
                utimes(path, nil)
                guard let file = BlobFile(path: path) else { return nil }
                return try !verify || file.digest() == digest ? file : nil
            }
        } catch {
            throw ContentStoreError(.io, "cannot read the blob \(digest)", underlying: error)
        }
        if file == nil { drop(digest) }
        return file
    }

    /// Stores `bytes` as `digest` (checked first when the store verifies content).
    public func write(_ bytes: [UInt8], as digest: BlobDigest) async throws {
        let upload = try beginUpload()
        try bytes.withUnsafeBytes { try upload.write($0) }
        try await commit(upload.finish(), as: digest)
    }

    /// Starts a blob that arrives in pieces, into a temporary file of the store.
    public func beginUpload() throws -> sending BlobUpload {
        uploads += 1
        return try BlobUpload(temporaryPath: "\(directory)/.incoming/\(ProcessInfo.processInfo.processIdentifier)-\(uploads)", limit: index.capacity)
    }

    /// Moves a finished upload into place as `digest`, or deletes it and throws when its bytes do not match.
    public func commit(_ upload: FinishedBlobUpload, as digest: BlobDigest) async throws {
        defer { unlink(upload.temporaryPath) }
        guard !verifiesContent || upload.digest == digest else {
            throw ContentStoreError(.digestMismatch, "the bytes sent for \(digest) hash to \(upload.digest); send the blob its digest names")
        }
        guard index.fits(UInt64(upload.digest.sizeBytes)) else {
            throw ContentStoreError(.tooLarge, "the blob \(digest) is larger than the whole store (\(index.capacity) bytes); raise its size")
        }
        let destination = Self.path(of: digest, in: directory)
        let temporary = upload.temporaryPath
        try await BlockingWork.run {
            try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard rename(temporary, destination) == 0 else {
                throw ContentStoreError(.io, "cannot move a blob into '\(destination)'", cause: String(cString: strerror(errno)))
            }
        }
        insert(digest, size: upload.digest.sizeBytes)
        if verifiesContent, let bytes = upload.bytes { recent.remember(bytes, as: digest) }
    }

    /// Indexes a blob just placed, deleting what it evicts.
    func insert(_ digest: BlobDigest, size: Int64) {
        for evicted in index.insert(digest, size: UInt64(size)) {
            recent.forget(evicted)
            unlink(Self.path(of: evicted, in: directory))
        }
    }

    private func drop(_ digest: BlobDigest) {
        index.remove(digest)
        recent.forget(digest)
        unlink(Self.path(of: digest, in: directory))
    }

    /// The bytes of a blob held in memory, adding its file to `marks` when its mtime is due to be refreshed.
    private func recall(_ digest: BlobDigest, marking marks: inout [String]) -> [UInt8]? {
        guard let recalled = recent.recall(digest) else { return nil }
        if recalled.markFile { marks.append(Self.path(of: digest, in: directory)) }
        return recalled.bytes
    }

    /// Marks the files of blobs served from memory as used, in the background: their mtimes are the store's
    /// recency after a restart, and nothing waits for them.
    func markUsed(_ paths: [String]) {
        guard !paths.isEmpty else { return }
        Task.detached { try? await BlockingWork.run { for path in paths { utimes(path, nil) } } }
    }

    static func path(of digest: BlobDigest, in directory: String) -> String {
        "\(directory)/\(digest.hash.prefix(2))/\(digest.fileName)"
    }
}
