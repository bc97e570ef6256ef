import ArchiveKit
import KilnProtocol

extension OutputData {
    /// Compresses a produced file for the wire: zlib at level 1 (as sccache) plus the exact uncompressed length,
    /// which clients assert (protocol §3.5).
    public init(compressing bytes: [UInt8]) throws {
        self.init(compressed: try ZlibDeflate.compress(bytes, level: 1), uncompressedLength: UInt64(bytes.count))
    }

    /// The file's bytes; refuses data whose length differs from ``uncompressedLength``.
    public func decompressed() throws -> [UInt8] {
        let bytes = try ZlibDeflate.decompress(compressed, maxOutput: uncompressedLength)
        guard bytes.count == uncompressedLength else {
            throw ArchiveError(.corrupt, "output inflates to \(bytes.count) bytes, not the \(uncompressedLength) announced")
        }
        return bytes
    }
}
