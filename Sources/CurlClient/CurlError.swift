/// Why an outbound HTTP call failed (not an HTTP status: those are results).
public struct CurlError: Error, Hashable, CustomStringConvertible, Sendable {
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

    public let code: Code
    public let message: String
    /// `curl_easy_strerror` and the error buffer's text.
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { "http \(code): \(message)" + (cause.map { " (\($0))" } ?? "") }
}
