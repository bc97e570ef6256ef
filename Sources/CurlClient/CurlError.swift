import KilnErrors

/// Why an outbound HTTP call failed (not an HTTP status: those are results).
public struct CurlError: KilnError, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// The peer could not be reached (refused, unreachable, DNS).
        public static let connect = Code(name: "connect")
        /// The deadline passed.
        public static let timeout = Code(name: "timeout")
        /// TLS failed, including a certificate that does not match the pinned one.
        public static let tls = Code(name: "tls")
        /// The answer was larger than allowed.
        public static let tooLarge = Code(name: "tooLarge")
        /// Anything else libcurl reports.
        public static let transfer = Code(name: "transfer")
        /// The caller was cancelled; the transfer was stopped.
        public static let cancelled = Code(name: "cancelled")
        /// libcurl could not be set up.
        public static let setup = Code(name: "setup")
        public var description: String { name }
    }

    public static var domain: String { "http" }
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
