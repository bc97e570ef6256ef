import ArchiveKit
import BlockingPool
import BuilderCore
import Foundation
import KilnErrors

extension DiskBlobStore {
    /// Stores whole blobs (a finished action's outputs, stdout and stderr), each under the digest of its own bytes,
    /// and returns those digests in order. The hashing is one trip to the blocking pool and the writing another,
    /// not a few per blob: an action's results are on its client's path. Blobs already held count as used.
    public func store(_ blobs: [[UInt8]]) async throws -> [BlobDigest] {
        let digests = try await BlockingWork.run { blobs.map { BlobDigest.of($0) } }
        var used: [String] = []
        var new: [(digest: BlobDigest, bytes: [UInt8], temporary: String)] = []
        for (digest, bytes) in zip(digests, blobs) where digest != .empty || !verifiesContent {
            guard !new.contains(where: { $0.digest == digest }) else { continue }
            if index.touch(digest) {
                used.append(Self.path(of: digest, in: directory))
                continue
            }
            guard index.fits(UInt64(digest.sizeBytes)) else {
                throw ContentStoreError(.tooLarge, "the blob \(digest) is larger than the whole store (\(index.capacity) bytes); raise its size")
            }
            uploads += 1
            new.append((digest, bytes, "\(directory)/.incoming/\(ProcessInfo.processInfo.processIdentifier)-\(uploads)"))
        }
        let (directory, touched, written) = (directory, used, new)
        try await BlockingWork.run {
            for path in touched { utimes(path, nil) }
            for blob in written { try Self.place(blob.bytes, at: Self.path(of: blob.digest, in: directory), through: blob.temporary) }
        }
        for blob in new { insert(blob.digest, size: blob.digest.sizeBytes) }
        if verifiesContent { for (digest, bytes) in zip(digests, blobs) where digest != .empty { recent.remember(bytes, as: digest) } }
        return digests
    }

    /// Writes `bytes` to `temporary` and renames it to `destination`, so a reader never sees a part of the blob.
    private static func place(_ bytes: [UInt8], at destination: String, through temporary: String) throws {
        do {
            let file = try FileWriter(path: temporary)
            defer { file.remove() }
            try bytes.withUnsafeBytes { try file.write($0) }
            try file.close()
            try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard rename(temporary, destination) == 0 else {
                throw ContentStoreError(.io, "cannot move a blob into '\(destination)'", cause: String(cString: strerror(errno)))
            }
        } catch let error as ContentStoreError {
            throw error
        } catch {
            throw ContentStoreError(.io, "writing a blob to the store failed; check the store's disk", underlying: error)
        }
    }
}
