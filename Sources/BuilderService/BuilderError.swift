/// Why the build server could not start or serve a request.
public struct BuilderError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The configuration cannot work (for example a `jwt_token` for another address).
        public static let configuration = Code(name: "configuration")
        /// The scheduler refused or did not answer a heartbeat or job_state.
        public static let scheduler = Code(name: "scheduler")
        /// Making the certificate or the TLS listener failed.
        public static let identity = Code(name: "identity")
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
