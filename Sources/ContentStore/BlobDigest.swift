import Crypto
import Foundation

/// A blob's name in the Remote Execution API: the lowercase hex SHA-256 of its bytes and their count.
public struct BlobDigest: Hashable, Sendable, CustomStringConvertible {
    public let hash: String
    public let sizeBytes: Int64

    /// Checks the shape only (64 lowercase hex digits, a size of 0 or more); the bytes are checked when they come.
    public init(hash: String, sizeBytes: Int64) throws(ContentStoreError) {
        guard hash.utf8.count == 64, hash.utf8.allSatisfy(Self.isLowerHex), sizeBytes >= 0 else {
            throw ContentStoreError(
                .badDigest, "'\(hash.prefix(80))/\(sizeBytes)' is not a SHA-256 digest (64 lowercase hex digits and a size of 0 or more)")
        }
        self.hash = hash
        self.sizeBytes = sizeBytes
    }

    private init(checked hash: String, sizeBytes: Int64) {
        self.hash = hash
        self.sizeBytes = sizeBytes
    }

    /// The digest of `bytes`.
    public static func of(_ bytes: some DataProtocol) -> BlobDigest {
        BlobDigest(checked: hex(SHA256.hash(data: bytes)), sizeBytes: Int64(bytes.count))
    }

    /// The digest of the empty blob, which every store holds without storing it.
    public static let empty = BlobDigest.of([UInt8]())

    /// `hash/size`, as ByteStream resource names and logs write it.
    public var description: String { "\(hash)/\(sizeBytes)" }

    /// The file name a store keeps the blob under.
    var fileName: String { "\(hash)_\(sizeBytes)" }

    init?(fileName: String) {
        let parts = fileName.split(separator: "_")
        guard parts.count == 2, let size = Int64(parts[1]), let digest = try? BlobDigest(hash: String(parts[0]), sizeBytes: size) else {
            return nil
        }
        self = digest
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool { (48...57).contains(byte) || (97...102).contains(byte) }
}
