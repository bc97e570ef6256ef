import KilnErrors

/// Why a call to the Docker engine failed.
public struct DockerEngineError: KilnError, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// The engine's socket cannot be reached: is dockerd running, and may this user open the socket?
        public static let unreachable = Code(name: "unreachable")
        /// The call did not finish before its deadline.
        public static let timeout = Code(name: "timeout")
        /// The object (image, container, file in a container) does not exist.
        public static let notFound = Code(name: "notFound")
        /// The engine refused the call (4xx other than 404, or 5xx); the message carries its reason.
        public static let refused = Code(name: "refused")
        /// The answer was larger than allowed.
        public static let tooLarge = Code(name: "tooLarge")
        /// An exec started ahead had ended before it took its input: nothing of the job ran, so it may run again.
        public static let notStarted = Code(name: "notStarted")
        /// The answer could not be understood.
        public static let malformed = Code(name: "malformed")
        public var description: String { name }
    }

    public static var domain: String { "docker" }
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
