import Crypto
import Foundation
import KilnErrors

/// A stored blob held open for reading: the descriptor keeps the bytes readable even when the store evicts the
/// blob meanwhile (or its bytes, for one the store holds in memory: ``RecentBlobs``). Reads block; run them on
/// `BlockingWork`.
public final class BlobFile: Sendable {
    private let descriptor: Int32
    private let memory: [UInt8]?
    /// The blob's length in bytes.
    public let size: Int

    /// The empty blob, which is never stored.
    static let empty = BlobFile(descriptor: -1, size: 0)

    private init(descriptor: Int32, size: Int, memory: [UInt8]? = nil) {
        self.descriptor = descriptor
        self.size = size
        self.memory = memory
    }

    /// A blob held in memory.
    convenience init(bytes: [UInt8]) { self.init(descriptor: -1, size: bytes.count, memory: bytes) }

    convenience init?(path: String) {
        let descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            return nil
        }
        self.init(descriptor: descriptor, size: Int(status.st_size))
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Up to `count` bytes from `offset` (fewer at the end of the blob).
    public func read(offset: Int, count: Int) throws -> [UInt8] {
        let wanted = max(0, min(count, size - offset))
        guard wanted > 0 else { return [] }
        if let memory { return Array(memory[offset..<offset + wanted]) }
        var bytes = [UInt8](repeating: 0, count: wanted)
        var done = 0
        while done < wanted {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, wanted - done, off_t(offset + done))
            }
            guard got > 0 else {
                if got < 0, errno == EINTR { continue }
                throw ContentStoreError(
                    .io, "reading a stored blob failed", cause: got == 0 ? "the file ended early" : String(cString: strerror(errno)))
            }
            done += got
        }
        return bytes
    }

    /// The digest of the whole file, read in pieces.
    func digest() throws -> BlobDigest {
        var hasher = SHA256()
        var offset = 0
        while offset < size {
            let piece = try read(offset: offset, count: 1 << 20)
            hasher.update(data: piece)
            offset += piece.count
        }
        return try BlobDigest(hash: BlobDigest.hex(hasher.finalize()), sizeBytes: Int64(size))
    }
}
