import KilnErrors

/// A configuration file that cannot be used, with the key at fault and what it should hold.
public struct ConfigurationError: KilnError, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// The file cannot be read.
        public static let unreadable = Code(name: "unreadable")
        /// The file is not valid TOML.
        public static let syntax = Code(name: "syntax")
        /// A key that Kiln and sccache-dist do not know.
        public static let unknownKey = Code(name: "unknownKey")
        /// A required key is absent.
        public static let missingKey = Code(name: "missingKey")
        /// A key holds the wrong type or an invalid value (a bad address, an unknown `type`, …).
        public static let invalidValue = Code(name: "invalidValue")
        public var description: String { name }
    }

    public let code: Code
    /// The dotted key path, such as `builder.build_dir`; empty for file-level problems.
    public let key: String
    /// What is wrong and what is expected instead.
    public let message: String

    /// The reading or parsing error behind `unreadable` and `syntax`.
    public let underlying: (any Error)?
    public let site: ThrowSite
    public static var domain: String { "configuration" }

    public init(_ code: Code, key: String, _ message: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.key = key
        self.message = message
        self.underlying = underlying
        site = ThrowSite(file: file, line: line)
    }

    public init(_ code: Code, _ message: String, underlying: (any Error)?, file: String = #fileID, line: Int = #line) {
        self.init(code, key: "", message, underlying: underlying, file: file, line: line)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(key)
    }

    public var description: String { key.isEmpty ? message : "key '\(key)': \(message)" }
}
