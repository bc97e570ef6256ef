/// Why a framed body on the wire could not be read.
public struct WireStreamError: Error, Hashable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// The body ended before its frame did.
        public static let truncated = Code(name: "truncated")
        /// The bincode header is longer than allowed.
        public static let headerTooLarge = Code(name: "headerTooLarge")
        /// The bincode header does not decode.
        public static let badHeader = Code(name: "badHeader")
        /// The zlib part is damaged or too large.
        public static let badPayload = Code(name: "badPayload")
        public var description: String { name }
    }

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { "run_job body \(code): \(message)" + (cause.map { " (\($0))" } ?? "") }
}
