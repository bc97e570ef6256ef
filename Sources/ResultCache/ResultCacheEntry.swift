import BLAKE3
import KilnProtocol

/// One cached result as stored on disk: a fixed header (magic, creation time, exit code, payload length, and the
/// key it was stored under), the bincode `JobComplete`, and a BLAKE3 of everything before it. A file that is short,
/// long, or altered anywhere, or that was stored under another key (a renamed file), fails
/// ``decode(_:key:)``, so a damaged or misplaced entry can only ever be a miss.
public struct ResultCacheEntry: Sendable, Equatable {
    static let magic = Array("KILNRC2\n".utf8)
    /// magic, then the bincode ``Header`` (three u64s), then the key's 64 hex digits.
    static let headerLength = 32 + keyLength
    static let keyLength = 64
    static let digestLength = 32

    /// The fixed part after the magic; the exit code is stored as its two's complement bits.
    struct Header: Codable {
        var createdAt: UInt64
        var exitCode: UInt64
        var payloadLength: UInt64
    }

    /// Seconds since 1970 when the job finished.
    public var createdAt: UInt64
    public var result: JobComplete

    public init(createdAt: UInt64, result: JobComplete) {
        self.createdAt = createdAt
        self.result = result
    }

    /// A compile that exited non-zero; such entries live for `failure_ttl`.
    public var isFailure: Bool { result.output.code != 0 }

    /// The entry's length in bytes, known before ``encoded(key:)`` spends the memory.
    public static func length(of result: JobComplete) -> Int { headerLength + result.bincodeLength + digestLength }

    /// The entry's bytes, bound to `key` (64 hex digits), built in one buffer of its final size.
    public func encoded(key: String) throws -> [UInt8] {
        guard key.utf8.count == Self.keyLength else { throw ResultCacheError(.corrupt, "'\(key)' is not a result cache key") }
        let payload = try BincodeEncoder().encode(result)
        let header = Header(
            createdAt: createdAt, exitCode: UInt64(bitPattern: Int64(result.output.code)), payloadLength: UInt64(payload.count))
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerLength + payload.count + Self.digestLength)
        bytes += try BincodeEncoder().encode(header)
        bytes += key.utf8
        bytes += payload
        bytes += BLAKE3Hasher.hash(bytes)
        return bytes
    }

    /// The entry in `bytes`, which must have been stored under `key`.
    public static func decode(_ bytes: [UInt8], key: String) throws -> ResultCacheEntry {
        guard bytes.count >= headerLength + digestLength, let header = header(of: bytes) else {
            throw ResultCacheError(.corrupt, "not a result cache entry (\(bytes.count) bytes, no header)")
        }
        // Compared without adding to the stored length, which may be anything (0xFF…FF would overflow).
        let length = header.payloadLength
        guard length == UInt64(bytes.count - headerLength - digestLength) else {
            throw ResultCacheError(.corrupt, "entry is \(bytes.count) bytes, its header says \(length) + \(headerLength + digestLength)")
        }
        guard bytes[(headerLength - keyLength)..<headerLength].elementsEqual(key.utf8) else {
            throw ResultCacheError(.corrupt, "entry was stored under another key (a renamed or copied file)")
        }
        let body = bytes.dropLast(digestLength)
        guard BLAKE3Hasher.hash(body) == Array(bytes.suffix(digestLength)) else {
            throw ResultCacheError(.corrupt, "entry digest does not match its bytes")
        }
        do {
            let result = try BincodeDecoder().decode(JobComplete.self, from: body.dropFirst(headerLength))
            return ResultCacheEntry(createdAt: header.createdAt, result: result)
        } catch {
            throw ResultCacheError(.corrupt, "entry payload is not a JobComplete", underlying: error)
        }
    }

    /// Creation time and whether the compile failed, from the first ``headerLength`` bytes alone (for sweeping
    /// without reading payloads).
    static func summary(fromHeader bytes: [UInt8]) -> (createdAt: UInt64, isFailure: Bool)? {
        header(of: bytes).map { ($0.createdAt, $0.exitCode != 0) }
    }

    private static func header(of bytes: [UInt8]) -> Header? {
        guard bytes.count >= headerLength, Array(bytes.prefix(magic.count)) == magic else { return nil }
        return try? BincodeDecoder().decode(Header.self, from: bytes[magic.count..<(headerLength - keyLength)])
    }
}
