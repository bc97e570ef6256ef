import KilnErrors

/// Why a Redis call failed. Every one of them means "the shared tier is unavailable for now", never a wrong answer.
public struct RedisError: KilnError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// The server could not be reached, or refused the password or database.
        public static let connect = Code(name: "connect")
        /// The connection failed or its deadline passed during a command.
        public static let io = Code(name: "io")
        /// The server answered with an error (out of memory, a wrong type, a script error).
        public static let server = Code(name: "server")
        public var description: String { name }
    }

    public static var domain: String { "redis" }
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
