import KilnErrors

/// Why a token was refused or could not be made.
public struct AuthError: KilnError, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// Not a JWT, bad base64, bad JSON, or claims other than exactly the expected ones.
        public static let malformed = Code(name: "malformed")
        /// The header names an algorithm other than HS256.
        public static let wrongAlgorithm = Code(name: "wrongAlgorithm")
        /// The signature does not verify with the key.
        public static let badSignature = Code(name: "badSignature")
        /// The token is valid but for another job or server.
        public static let wrongSubject = Code(name: "wrongSubject")
        /// A key is not 32 bytes of base64url, or similar configuration problems.
        public static let badKey = Code(name: "badKey")
        public var description: String { name }
    }

    public static var domain: String { "auth" }
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
