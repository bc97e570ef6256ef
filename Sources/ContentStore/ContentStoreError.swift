import KilnErrors

/// Why the content store could not take or give a blob.
public struct ContentStoreError: KilnError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The bytes do not hash to (or are not the size of) the digest they were sent for.
        public static let digestMismatch = Code(name: "digestMismatch")
        /// A digest that is not 64 lowercase hex digits and a size of 0 or more.
        public static let badDigest = Code(name: "badDigest")
        /// The blob is larger than the whole store.
        public static let tooLarge = Code(name: "tooLarge")
        /// A disk operation failed.
        public static let io = Code(name: "io")
        public var description: String { name }
    }

    public static var domain: String { "content store" }
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
