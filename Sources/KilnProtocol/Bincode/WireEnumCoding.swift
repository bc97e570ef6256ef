/// A coding key made from any string, for enum variants and their payloads.
public struct WireKey: CodingKey, Hashable, Sendable, ExpressibleByStringLiteral {
    public let stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
    public init(stringLiteral value: String) { self.stringValue = value }
}

/// Rust enums as serde writes them: in bincode a u32 variant index followed by the payload's fields; in JSON
/// (for humans with curl, protocol §1) a bare string for a unit variant and `{"Name": payload}` otherwise.
extension Encoder {
    public func encodeUnitVariant(_ index: UInt32, _ name: String) throws {
        var container = singleValueContainer()
        if isBincode { try container.encode(index) } else { try container.encode(name) }
    }

    public func encodeVariant(_ index: UInt32, _ name: String, payload: some Encodable) throws {
        var container = container(keyedBy: WireKey.self)
        if isBincode {
            try container.encode(index, forKey: "variant")
            try container.encode(payload, forKey: "payload")
        } else {
            try container.encode(payload, forKey: WireKey(stringValue: name))
        }
    }
}

/// The variant read by ``Swift/Decoder/decodeVariant(names:)``; its payload is read on demand.
public struct WireVariant {
    /// The position of the variant in declaration order.
    public let index: Int
    fileprivate let container: KeyedDecodingContainer<WireKey>?
    fileprivate let key: WireKey

    public func payload<T: Decodable>(_ type: T.Type) throws -> T {
        guard let container else {
            throw BincodeError(.invalidValue, "variant \(index) was written as a unit variant but needs a payload")
        }
        return try container.decode(type, forKey: key)
    }
}

extension Decoder {
    /// Reads which variant of an enum with the given variant names follows.
    public func decodeVariant(names: [String]) throws -> WireVariant {
        if isBincode {
            let container = try container(keyedBy: WireKey.self)
            let index = try container.decode(UInt32.self, forKey: "variant")
            guard index < names.count else {
                throw BincodeError(.invalidVariant, "variant index \(index) is not one of \(names)")
            }
            return WireVariant(index: Int(index), container: container, key: "payload")
        }
        if let name = try? singleValueContainer().decode(String.self), let index = names.firstIndex(of: name) {
            return WireVariant(index: index, container: nil, key: WireKey(stringValue: name))
        }
        let container = try container(keyedBy: WireKey.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first,
            let index = names.firstIndex(of: key.stringValue)
        else {
            throw BincodeError(.invalidVariant, "expected one of \(names)")
        }
        return WireVariant(index: index, container: container, key: key)
    }
}
