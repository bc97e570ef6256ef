import KilnErrors

/// Why a framed body on the wire could not be read.
public struct WireStreamError: KilnError, Hashable, Sendable {
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

    public static var domain: String { "run_job body" }
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

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
