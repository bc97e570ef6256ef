/// A job's id, a u64 on the wire (newtype `JobId`).
public struct JobID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public static func < (lhs: JobID, rhs: JobID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// A random number fixed for the life of one build-server process; a new one tells the scheduler the server
/// restarted (newtype `ServerNonce`, a u64).
public struct ServerNonce: Hashable, Sendable, Codable {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A toolchain, named by its `archive_id`: sccache's nibble-swapped hex of the archive's BLAKE3 (protocol §8.2).
public struct Toolchain: Hashable, Sendable, Codable {
    public var archiveID: String
    public init(archiveID: String) { self.archiveID = archiveID }

    enum CodingKeys: String, CodingKey { case archiveID = "archive_id" }

    /// True when the id is 64 lowercase hex digits, the only form sccache produces. Anything else is refused
    /// before it reaches a file name.
    public var isWellFormed: Bool {
        archiveID.utf8.count == 64 && archiveID.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// A job's state as the scheduler tracks it (protocol §7.3).
public enum JobState: UInt32, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case pending = 0, ready, started, complete

    static let names = ["Pending", "Ready", "Started", "Complete"]
    public var description: String { Self.names[Int(rawValue)] }

    public func encode(to encoder: any Encoder) throws {
        try encoder.encodeUnitVariant(rawValue, description)
    }
    public init(from decoder: any Decoder) throws {
        let variant = try decoder.decodeVariant(names: Self.names)
        self = Self(rawValue: UInt32(variant.index)) ?? .pending
    }
}
