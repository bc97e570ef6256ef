import KilnAuth
import KilnConfiguration
import KilnProtocol

/// Checks a build server's bearer token and that the request comes from the address the token names
/// (protocol §6.2). `X-Real-IP` is believed only from configured trusted proxies; upstream believes anyone.
struct ServerAuthenticator: Sendable {
    enum Failure: Error, Equatable {
        /// 401 `invalid_bearer_token`
        case invalidToken
        /// 401 `invalid_bearer_token_mismatched_address`
        case mismatchedAddress
        /// 400: a trusted proxy sent an `X-Real-IP` that is not an IP
        case badRealIP
    }

    private let mode: ServerAuthConfiguration
    private let authority: HS256Authority?
    private let trustedProxies: [[UInt8]]

    init(_ mode: ServerAuthConfiguration, trustedProxies: [[UInt8]]) async {
        self.mode = mode
        self.trustedProxies = trustedProxies
        if case .jwtHS256(let key) = mode { authority = await HS256Authority(key: key) } else { authority = nil }
    }

    func authenticate(token: String?, peerIP: [UInt8]?, realIP: String?) async throws(Failure) -> ServerID {
        guard let token, let server = await serverID(from: token) else { throw .invalidToken }
        var source = peerIP
        if let realIP, let peer = peerIP, trustedProxies.contains(peer) {
            guard let forwarded = ServerID.parseIP(realIP) else { throw .badRealIP }
            source = forwarded
        }
        guard let source, source == server.octets else { throw .mismatchedAddress }
        return server
    }

    private func serverID(from token: String) async -> ServerID? {
        switch mode {
        case .dangerouslyInsecure: return Self.split(token, secret: "dangerously_insecure_server")
        case .token(let secret): return Self.split(token, secret: secret)
        case .jwtHS256:
            guard let authority, let text = try? await authority.verifyServerToken(token) else { return nil }
            return ServerID(text)
        }
    }

    /// `"<ip:port> <secret>"`, split on the first space.
    private static func split(_ token: String, secret: String) -> ServerID? {
        guard let space = token.firstIndex(of: " ") else { return nil }
        let given = token[token.index(after: space)...]
        guard ConstantTime.equal(Array(given.utf8), Array(secret.utf8)) else { return nil }
        return ServerID(String(token[..<space]))
    }
}

/// Comparison whose time does not depend on where the first difference is.
enum ConstantTime {
    static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
