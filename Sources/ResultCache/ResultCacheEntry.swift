import BLAKE3
import KilnProtocol

/// One cached result as stored on disk: a fixed header (magic, creation time, exit code, payload length), the bincode
/// `JobComplete`, and a BLAKE3 of everything before it. A file that is short, long, or altered anywhere fails
/// ``decode(_:)``, so a damaged entry can only ever be a miss.
public struct ResultCacheEntry: Sendable, Equatable {
    static let magic = Array("KILNRC1\n".utf8)
    /// magic, created (u64), exit code (u64, two's complement), payload length (u64).
    static let headerLength = 32
    static let digestLength = 32

    /// Seconds since 1970 when the job finished.
    public var createdAt: UInt64
    public var result: JobComplete

    public init(createdAt: UInt64, result: JobComplete) {
        self.createdAt = createdAt
        self.result = result
    }

    /// A compile that exited non-zero; such entries live for `failure_ttl`.
    public var isFailure: Bool { result.output.code != 0 }

    public func encoded() throws -> [UInt8] {
        let payload = try BincodeEncoder().encode(result)
        var bytes = Self.magic
        bytes += Self.littleEndian(createdAt)
        bytes += Self.littleEndian(UInt64(bitPattern: Int64(result.output.code)))
        bytes += Self.littleEndian(UInt64(payload.count))
        bytes += payload
        bytes += BLAKE3Hasher.hash(bytes)
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> ResultCacheEntry {
        guard bytes.count >= headerLength + digestLength, Array(bytes.prefix(magic.count)) == magic else {
            throw ResultCacheError(.corrupt, "not a result cache entry (\(bytes.count) bytes, no header)")
        }
        let length = readLittleEndian(bytes, at: 24)
        guard UInt64(bytes.count) == UInt64(headerLength + digestLength) + length else {
            throw ResultCacheError(.corrupt, "entry is \(bytes.count) bytes, its header says \(length) + \(headerLength + digestLength)")
        }
        let body = bytes.dropLast(digestLength)
        guard BLAKE3Hasher.hash(body) == Array(bytes.suffix(digestLength)) else {
            throw ResultCacheError(.corrupt, "entry digest does not match its bytes")
        }
        do {
            let result = try BincodeDecoder().decode(JobComplete.self, from: body.dropFirst(headerLength))
            return ResultCacheEntry(createdAt: readLittleEndian(bytes, at: 8), result: result)
        } catch {
            throw ResultCacheError(.corrupt, "entry payload is not a JobComplete", cause: "\(error)")
        }
    }

    /// Creation time and whether the compile failed, from the first ``headerLength`` bytes alone (for sweeping
    /// without reading payloads).
    static func summary(fromHeader bytes: [UInt8]) -> (createdAt: UInt64, isFailure: Bool)? {
        guard bytes.count >= headerLength, Array(bytes.prefix(magic.count)) == magic else { return nil }
        return (readLittleEndian(bytes, at: 8), readLittleEndian(bytes, at: 16) != 0)
    }

    private static func littleEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    private static func readLittleEndian(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { value, index in value | UInt64(bytes[offset + index]) << (8 * index) }
    }
}
