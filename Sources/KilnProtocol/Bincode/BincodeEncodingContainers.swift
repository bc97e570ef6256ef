/// Keyed containers write fields one after another: bincode structs carry no names and no count.
struct BincodeKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: BincodeSink
    var codingPath: [any CodingKey] = []
    private var writer: BincodeValueWriter { BincodeValueWriter(sink: sink) }

    init(sink: BincodeSink) { self.sink = sink }

    mutating func encodeNil(forKey key: Key) throws { try writer.writeNil() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { writer.write(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { writer.write(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { writer.write(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { writer.write(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { writer.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try writer.write(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(BincodeKeyedEncoder<NestedKey>(sink: sink))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        BincodeUnkeyedEncoder(sink: sink)
    }
    mutating func superEncoder() -> any Encoder { _BincodeEncoder(sink: sink) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { _BincodeEncoder(sink: sink) }
}

/// Unkeyed containers are sequences: a u64 count, patched in place as elements arrive, then the elements.
struct BincodeUnkeyedEncoder: UnkeyedEncodingContainer {
    let sink: BincodeSink
    var codingPath: [any CodingKey] = []
    private(set) var count = 0
    private let countOffset: Int
    private var writer: BincodeValueWriter { BincodeValueWriter(sink: sink) }

    init(sink: BincodeSink) {
        self.sink = sink
        countOffset = sink.bytes.count
        sink.appendLength(0)
    }

    private mutating func countOne() {
        count += 1
        withUnsafeBytes(of: UInt64(count).littleEndian) { raw in
            for (index, byte) in raw.enumerated() { sink.bytes[countOffset + index] = byte }
        }
    }

    mutating func encodeNil() throws { try writer.writeNil() }
    mutating func encode(_ value: Bool) throws { countOne(); writer.write(value) }
    mutating func encode(_ value: String) throws { countOne(); writer.write(value) }
    mutating func encode(_ value: Double) throws { countOne(); writer.write(value) }
    mutating func encode(_ value: Float) throws { countOne(); writer.write(value) }
    mutating func encode(_ value: Int) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { countOne(); writer.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { countOne(); writer.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        countOne()
        try writer.write(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        countOne()
        return KeyedEncodingContainer(BincodeKeyedEncoder<NestedKey>(sink: sink))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        countOne()
        return BincodeUnkeyedEncoder(sink: sink)
    }
    mutating func superEncoder() -> any Encoder {
        countOne()
        return _BincodeEncoder(sink: sink)
    }
}

/// A single value is written as it is.
struct BincodeSingleValueEncoder: SingleValueEncodingContainer {
    let sink: BincodeSink
    var codingPath: [any CodingKey] = []
    private var writer: BincodeValueWriter { BincodeValueWriter(sink: sink) }

    mutating func encodeNil() throws { try writer.writeNil() }
    mutating func encode(_ value: Bool) throws { writer.write(value) }
    mutating func encode(_ value: String) throws { writer.write(value) }
    mutating func encode(_ value: Double) throws { writer.write(value) }
    mutating func encode(_ value: Float) throws { writer.write(value) }
    mutating func encode(_ value: Int) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { writer.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { writer.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { writer.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try writer.write(value) }
}
