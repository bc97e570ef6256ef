import KilnErrors

/// Why bincode bytes could not be decoded, or a value could not be encoded.
public struct BincodeError: KilnError, Hashable, Sendable {
    /// What kind of problem it is; compare errors by code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Value: Hashable, Sendable {
            case unexpectedEnd, invalidBool, invalidUTF8, lengthTooLarge, invalidVariant, invalidValue, unsupported
        }
        fileprivate let value: Value

        /// The bytes ended before the value did (a truncated body).
        public static let unexpectedEnd = Code(value: .unexpectedEnd)
        /// A `bool` byte other than 0 or 1.
        public static let invalidBool = Code(value: .invalidBool)
        /// A string that is not UTF-8.
        public static let invalidUTF8 = Code(value: .invalidUTF8)
        /// A length prefix larger than the bytes that remain (never allocated).
        public static let lengthTooLarge = Code(value: .lengthTooLarge)
        /// An enum tag that names no variant.
        public static let invalidVariant = Code(value: .invalidVariant)
        /// A value that decodes but is not valid for its type (for example a port out of range).
        public static let invalidValue = Code(value: .invalidValue)
        /// A shape bincode 1 cannot express here (for example `Option` fields, which no wire type uses).
        public static let unsupported = Code(value: .unsupported)

        public var description: String { "\(value)" }
    }

    public let code: Code
    /// What went wrong and, where it helps, what was expected.
    public let message: String
    /// The byte offset at which decoding failed.
    public let offset: Int

    public let underlying: (any Error)?
    public let site: ThrowSite
    public static var domain: String { "bincode" }

    public init(_ code: Code, _ message: String, offset: Int = 0, file: String = #fileID, line: Int = #line) {
        self.init(code, message, offset: offset, underlying: nil, file: file, line: line)
    }

    public init(_ code: Code, _ message: String, underlying: (any Error)?, file: String = #fileID, line: Int = #line) {
        self.init(code, message, offset: 0, underlying: underlying, file: file, line: line)
    }

    init(_ code: Code, _ message: String, offset: Int, underlying: (any Error)?, file: String, line: Int) {
        self.code = code
        self.message = message
        self.offset = offset
        self.underlying = underlying
        site = ThrowSite(file: file, line: line)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "bincode \(code) at byte \(offset): \(message)" }
}
