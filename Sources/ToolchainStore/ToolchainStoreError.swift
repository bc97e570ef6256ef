import KilnErrors

/// Why the toolchain cache could not take or give an archive.
public struct ToolchainStoreError: KilnError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The uploaded bytes do not hash to the archive id they were sent for.
        public static let digestMismatch = Code(name: "digestMismatch")
        /// The archive is larger than the whole cache.
        public static let tooLarge = Code(name: "tooLarge")
        /// A disk operation failed.
        public static let io = Code(name: "io")
        /// The id is not 64 hex digits.
        public static let badID = Code(name: "badID")
        public var description: String { name }
    }

    public static var domain: String { "toolchain cache" }
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
