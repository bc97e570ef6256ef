/// Encodes `Encodable` values as bincode 1.3.3 with sccache's options: little-endian fixed-width integers, u64
/// length prefixes, u32 enum tags (protocol §3.1).
///
/// Structs encode their fields in declaration order with no names; arrays and strings get a u64 count first.
/// Enums encode themselves (see ``WireEnumCoding``) because Swift's synthesized enum coding has no variant index.
public struct BincodeEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> [UInt8] {
        let sink = BincodeSink()
        try value.encode(to: _BincodeEncoder(sink: sink))
        return sink.bytes
    }
}

/// The growing output shared by every container of one encoding.
final class BincodeSink {
    var bytes: [UInt8] = []

    func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    func appendLength(_ count: Int) { append(UInt64(count)) }
}

extension CodingUserInfoKey {
    /// Present in `userInfo` of Kiln's bincode encoder and decoder, so that types with a different JSON shape
    /// (enums, socket addresses) can pick their bincode layout.
    public static let bincode = CodingUserInfoKey(rawValue: "kiln.bincode").unsafelyUnwrapped
}

struct _BincodeEncoder: Encoder {
    let sink: BincodeSink
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [.bincode: true] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(BincodeKeyedEncoder<Key>(sink: sink))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        BincodeUnkeyedEncoder(sink: sink)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        BincodeSingleValueEncoder(sink: sink)
    }
}

/// Writes one value of any shape; every container funnels into this.
struct BincodeValueWriter {
    let sink: BincodeSink

    func writeNil() throws {
        throw BincodeError(.unsupported, "Option is not part of any sccache wire type; Kiln does not encode it")
    }
    func write(_ value: Bool) { sink.bytes.append(value ? 1 : 0) }
    func write(_ value: String) {
        let utf8 = Array(value.utf8)
        sink.appendLength(utf8.count)
        sink.bytes.append(contentsOf: utf8)
    }
    func write(_ value: Double) { sink.append(value.bitPattern) }
    func write(_ value: Float) { sink.append(value.bitPattern) }
    func writeInteger<T: FixedWidthInteger>(_ value: T) {
        // `usize`/`isize` are 64-bit on the wire whatever the host.
        if T.self == Int.self || T.self == UInt.self {
            sink.append(Int64(truncatingIfNeeded: value))
        } else {
            sink.append(value)
        }
    }
    func write<T: Encodable>(_ value: T) throws {
        if let bytes = value as? [UInt8] {  // Vec<u8>: one copy instead of a container call per byte
            sink.appendLength(bytes.count)
            sink.bytes.append(contentsOf: bytes)
        } else {
            try value.encode(to: _BincodeEncoder(sink: sink))
        }
    }
}

extension Encoder {
    /// True when this encoder writes bincode (rather than JSON for a human with curl).
    public var isBincode: Bool { userInfo[.bincode] != nil }
}

extension Decoder {
    /// True when this decoder reads bincode.
    public var isBincode: Bool { userInfo[.bincode] != nil }

    /// `count` raw bytes with no length prefix, for bincode fixed-size arrays (IP octets). Only for bincode.
    func bincodeFixedBytes(_ count: Int) throws -> [UInt8] {
        guard let decoder = self as? _BincodeDecoder else {
            throw BincodeError(.unsupported, "fixed-size byte arrays are only read from bincode")
        }
        return try decoder.reader.readFixed(count)
    }
}

extension Encoder {
    /// Writes raw bytes with no length prefix (fixed-size arrays). Only for bincode.
    func bincodeFixedBytes(_ bytes: [UInt8]) throws {
        guard let encoder = self as? _BincodeEncoder else {
            throw BincodeError(.unsupported, "fixed-size byte arrays are only written as bincode")
        }
        encoder.sink.bytes.append(contentsOf: bytes)
    }
}
