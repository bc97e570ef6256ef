/// Rust tuples and tuple structs: in bincode their fields follow one another with no count (like a struct); in
/// JSON serde writes them as arrays.
public struct TupleEncodingContainer {
    private enum Storage {
        case bincode(KeyedEncodingContainer<WireKey>)
        case json(any UnkeyedEncodingContainer)
    }
    private var storage: Storage

    fileprivate init(_ encoder: any Encoder) {
        storage = encoder.isBincode ? .bincode(encoder.container(keyedBy: WireKey.self)) : .json(encoder.unkeyedContainer())
    }

    public mutating func encode(_ value: some Encodable) throws {
        switch storage {
        case .bincode(var container):
            try container.encode(value, forKey: "field")
            storage = .bincode(container)
        case .json(var container):
            try container.encode(value)
            storage = .json(container)
        }
    }
}

/// Reads what ``TupleEncodingContainer`` writes.
public struct TupleDecodingContainer {
    private enum Storage {
        case bincode(KeyedDecodingContainer<WireKey>)
        case json(any UnkeyedDecodingContainer)
    }
    private var storage: Storage

    fileprivate init(_ decoder: any Decoder) throws {
        storage =
            decoder.isBincode
            ? .bincode(try decoder.container(keyedBy: WireKey.self)) : .json(try decoder.unkeyedContainer())
    }

    public mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch storage {
        case .bincode(let container):
            return try container.decode(type, forKey: "field")
        case .json(var container):
            let value = try container.decode(type)
            storage = .json(container)
            return value
        }
    }
}

extension Encoder {
    public func unkeyedContainerOrTuple() -> TupleEncodingContainer { TupleEncodingContainer(self) }
}

extension Decoder {
    public func unkeyedContainerOrTuple() throws -> TupleDecodingContainer { try TupleDecodingContainer(self) }
}
