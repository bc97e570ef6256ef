/// Why the result cache could not open, read or store an entry. A failed read is a miss; a failed store is logged.
public struct ResultCacheError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The cache directory cannot be created or read.
        public static let io = Code(name: "io")
        /// An entry's bytes are not a whole, intact entry (truncated, altered, or of another version).
        public static let corrupt = Code(name: "corrupt")
        public var description: String { name }
    }

    public let code: Code
    public let message: String
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(code): \(message) (\($0))" } ?? "\(code): \(message)" }
}
