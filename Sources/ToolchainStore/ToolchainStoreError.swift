/// Why the toolchain cache could not take or give an archive.
public struct ToolchainStoreError: Error, CustomStringConvertible, Sendable {
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
