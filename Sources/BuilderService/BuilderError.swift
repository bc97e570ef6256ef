import KilnErrors

/// Why the build server could not start or serve a request.
public struct BuilderError: KilnError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The configuration cannot work (for example a `jwt_token` for another address).
        public static let configuration = Code(name: "configuration")
        /// A job's toolchain is not in the toolchain cache (never uploaded, or evicted): the client compiles locally.
        public static let toolchainMissing = Code(name: "toolchainMissing")
        /// The scheduler refused or did not answer a heartbeat or job_state.
        public static let scheduler = Code(name: "scheduler")
        /// Making the certificate or the TLS listener failed.
        public static let identity = Code(name: "identity")
        public var description: String { name }
    }

    public static var domain: String { "builder" }
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
