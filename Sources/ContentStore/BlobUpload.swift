import ArchiveKit
import Crypto

/// A blob as it arrives in pieces: written to a temporary file of the store and hashed on the way, so it is never
/// whole in memory. Hand ``finish()``'s result to ``DiskBlobStore/commit(_:as:)``.
public final class BlobUpload {
    private let file: FileWriter
    private var hasher = SHA256()
    private let limit: UInt64
    private var finished = false
    /// The bytes so far while the blob is small enough for ``RecentBlobs``; nil past that.
    private var copy: [UInt8]? = []
    public private(set) var size: UInt64 = 0

    init(temporaryPath: String, limit: UInt64) throws {
        self.limit = limit
        do {
            file = try FileWriter(path: temporaryPath)
        } catch {
            throw ContentStoreError(.io, "cannot start a blob upload; check the store's directory is writable", underlying: error)
        }
    }

    deinit { if !finished { file.remove() } }

    /// Appends a piece of the blob.
    public func write(_ piece: UnsafeRawBufferPointer) throws {
        size += UInt64(piece.count)
        guard size <= limit else {
            throw ContentStoreError(.tooLarge, "the blob is larger than the whole store (\(limit) bytes); raise its size")
        }
        hasher.update(bufferPointer: piece)
        if let held = copy?.count {
            if held + piece.count <= RecentBlobs.maxBlobBytes { copy?.append(contentsOf: piece) } else { copy = nil }
        }
        do {
            try file.write(piece)
        } catch {
            throw ContentStoreError(.io, "writing a blob to the store failed", underlying: error)
        }
    }

    /// Ends the upload: closes the file and names what arrived. The store owns the file from here on. Not synced:
    /// the store checks every blob against its digest when it is read, so one torn by a crash is found and dropped.
    public func finish() throws -> FinishedBlobUpload {
        do {
            try file.close()
        } catch {
            throw ContentStoreError(.io, "writing a blob to disk failed", underlying: error)
        }
        finished = true
        let digest = try BlobDigest(hash: BlobDigest.hex(hasher.finalize()), sizeBytes: Int64(size))
        return FinishedBlobUpload(temporaryPath: file.path, digest: digest, bytes: copy)
    }
}

/// A complete upload waiting to be committed: its file and the digest of its bytes.
public struct FinishedBlobUpload: Sendable {
    let temporaryPath: String
    public let digest: BlobDigest
    /// The blob's bytes when it is small enough to be held in memory as well.
    let bytes: [UInt8]?
}
