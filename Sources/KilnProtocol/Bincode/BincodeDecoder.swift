/// Decodes bincode 1.3.3 (sccache's options) into `Decodable` values. Hostile bytes throw ``BincodeError``; they
/// never trap, and a length prefix is checked against the bytes that remain before anything is allocated.
/// Trailing bytes are allowed, as in sccache (`allow_trailing_bytes`).
public struct BincodeDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        try decodePrefix(type, from: bytes).value
    }

    /// Decodes one value from the start of `bytes` and says how many bytes it took.
    public func decodePrefix<T: Decodable>(
        _ type: T.Type, from bytes: some Collection<UInt8>
    ) throws -> (value: T, consumed: Int) {
        let reader = BincodeReader(bytes: Array(bytes))
        let value = try reader.read(type)
        return (value, reader.offset)
    }
}

struct _BincodeDecoder: Decoder {
    let reader: BincodeReader
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [.bincode: true] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(BincodeKeyedDecoder<Key>(reader: reader))
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { try BincodeUnkeyedDecoder(reader: reader) }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { BincodeSingleValueDecoder(reader: reader) }
}

/// The cursor over the input shared by every container of one decoding.
final class BincodeReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    private func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count <= remaining else {
            throw BincodeError(.unexpectedEnd, "need \(count) bytes, \(remaining) left", offset: offset)
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    func readInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        if T.self == Int.self || T.self == UInt.self {  // usize/isize: always 8 bytes on the wire
            return T(truncatingIfNeeded: try readInteger(UInt64.self))
        }
        var value = T.zero
        let slice = try take(MemoryLayout<T>.size)
        withUnsafeMutableBytes(of: &value) { raw in
            for (index, byte) in slice.enumerated() { raw[index] = byte }
        }
        return T(littleEndian: value)
    }

    func readFloat<T: BinaryFloatingPoint>(_ type: T.Type) throws -> T {
        if T.self == Float.self { return T(Float(bitPattern: try readInteger(UInt32.self))) }
        return T(Double(bitPattern: try readInteger(UInt64.self)))
    }

    func readBool() throws -> Bool {
        let start = offset
        switch try readInteger(UInt8.self) {
        case 0: return false
        case 1: return true
        case let other: throw BincodeError(.invalidBool, "bool byte is \(other), expected 0 or 1", offset: start)
        }
    }

    /// A u64 count of elements at least `minimumElementSize` bytes each; refused if the rest cannot hold them.
    func readLength(minimumElementSize: Int) throws -> Int {
        let start = offset
        let length = try readInteger(UInt64.self)
        guard length <= UInt64(remaining / max(minimumElementSize, 1)) else {
            throw BincodeError(
                .lengthTooLarge, "length prefix \(length) exceeds the \(remaining) bytes that follow", offset: start)
        }
        return Int(length)
    }

    func readBytes() throws -> [UInt8] {
        Array(try take(try readLength(minimumElementSize: 1)))
    }

    func readString() throws -> String {
        let start = offset
        let raw = try readBytes()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw BincodeError(.invalidUTF8, "string is not valid UTF-8", offset: start)
        }
        return text
    }

    /// Reads exactly `count` raw bytes with no length prefix (fixed-size arrays such as IP octets).
    func readFixed(_ count: Int) throws -> [UInt8] { Array(try take(count)) }

    func read<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == [UInt8].self, let bytes = try readBytes() as? T { return bytes }
        return try T(from: _BincodeDecoder(reader: self))
    }
}
