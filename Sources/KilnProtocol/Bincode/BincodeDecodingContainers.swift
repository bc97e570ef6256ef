/// Keyed containers read fields in the order the type asks for them; keys are not on the wire.
struct BincodeKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: BincodeReader
    var codingPath: [any CodingKey] = []
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }
    func decodeNil(forKey key: Key) throws -> Bool {
        throw BincodeError(.unsupported, "Option is not part of any sccache wire type", offset: reader.offset)
    }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try reader.readBool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try reader.readString() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try reader.readFloat(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try reader.readFloat(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try reader.readInteger(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try reader.readInteger(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try reader.readInteger(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try reader.readInteger(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try reader.readInteger(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try reader.readInteger(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try reader.readInteger(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try reader.readInteger(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try reader.readInteger(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try reader.readInteger(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try reader.read(type) }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(BincodeKeyedDecoder<NestedKey>(reader: reader))
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try BincodeUnkeyedDecoder(reader: reader)
    }
    func superDecoder() throws -> any Decoder { _BincodeDecoder(reader: reader) }
    func superDecoder(forKey key: Key) throws -> any Decoder { _BincodeDecoder(reader: reader) }
}

/// Unkeyed containers read a u64 count, then that many elements.
struct BincodeUnkeyedDecoder: UnkeyedDecodingContainer {
    let reader: BincodeReader
    var codingPath: [any CodingKey] = []
    let count: Int?
    private(set) var currentIndex = 0
    var isAtEnd: Bool { currentIndex >= (count ?? 0) }

    init(reader: BincodeReader) throws {
        self.reader = reader
        // Every element of every wire sequence takes at least one byte, so a count above the bytes left is a lie
        // and is refused before anything is allocated.
        count = try reader.readLength(minimumElementSize: 1)
    }

    private mutating func advance() throws {
        guard !isAtEnd else {
            throw BincodeError(.unexpectedEnd, "sequence has no more elements", offset: reader.offset)
        }
        currentIndex += 1
    }

    mutating func decodeNil() throws -> Bool {
        throw BincodeError(.unsupported, "Option is not part of any sccache wire type", offset: reader.offset)
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try advance(); return try reader.readBool() }
    mutating func decode(_ type: String.Type) throws -> String { try advance(); return try reader.readString() }
    mutating func decode(_ type: Double.Type) throws -> Double { try advance(); return try reader.readFloat(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try advance(); return try reader.readFloat(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try advance(); return try reader.readInteger(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try advance(); return try reader.readInteger(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try advance(); return try reader.read(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try advance()
        return KeyedDecodingContainer(BincodeKeyedDecoder<NestedKey>(reader: reader))
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try advance()
        return try BincodeUnkeyedDecoder(reader: reader)
    }
    mutating func superDecoder() throws -> any Decoder {
        try advance()
        return _BincodeDecoder(reader: reader)
    }
}

/// A single value is read as it is.
struct BincodeSingleValueDecoder: SingleValueDecodingContainer {
    let reader: BincodeReader
    var codingPath: [any CodingKey] = []

    func decodeNil() -> Bool { false }
    func decode(_ type: Bool.Type) throws -> Bool { try reader.readBool() }
    func decode(_ type: String.Type) throws -> String { try reader.readString() }
    func decode(_ type: Double.Type) throws -> Double { try reader.readFloat(type) }
    func decode(_ type: Float.Type) throws -> Float { try reader.readFloat(type) }
    func decode(_ type: Int.Type) throws -> Int { try reader.readInteger(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try reader.readInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try reader.readInteger(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try reader.readInteger(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try reader.readInteger(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try reader.readInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.readInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.readInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.readInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.readInteger(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try reader.read(type) }
}
