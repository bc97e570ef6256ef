/// Why a call to the Docker engine failed.
public struct DockerEngineError: Error, Hashable, CustomStringConvertible, Sendable {
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
        /// The answer could not be understood.
        public static let malformed = Code(name: "malformed")
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

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { "docker \(code): \(message)" + (cause.map { " (\($0))" } ?? "") }
}
