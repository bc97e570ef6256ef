import KilnErrors

/// Why the result cache could not open, read or store an entry. A failed read is a miss; a failed store is logged.
public struct ResultCacheError: KilnError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The cache directory cannot be created or read.
        public static let io = Code(name: "io")
        /// An entry's bytes are not a whole, intact entry (truncated, altered, or of another version).
        public static let corrupt = Code(name: "corrupt")
        public var description: String { name }
    }

    public static var domain: String { "result cache" }
    public let code: Code
    public let message: String
    public let underlying: (any Error)?
    public let site: ThrowSite

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.site = ThrowSite(file: file, line: line)
    }
}
