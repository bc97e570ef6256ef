/// How the scheduler checks clients (`client_auth`, protocol §6.1).
public enum ClientAuthConfiguration: Sendable, Hashable {
    /// Accepts the token `dangerously_insecure_client`.
    case dangerouslyInsecure
    /// Accepts exactly this token.
    case token(String)
    /// Accepts RS256 JWTs whose `kid` is in the JWKS at `jwksURL`, with this audience and issuer.
    case jwtValidate(audience: String, issuer: String, jwksURL: String)
    /// Asks `url` with the client's bearer token; any 2xx means valid. Answers are cached `cacheSeconds`.
    case proxyToken(url: String, cacheSeconds: Int?)
    /// sccache ≤ 0.10's Mozilla auth0 check. Loaded so old files still parse; Kiln cannot serve it.
    case mozilla(requiredGroups: [String])
}

/// How the scheduler checks build servers (`server_auth`, protocol §6.2).
public enum ServerAuthConfiguration: Sendable, Hashable {
    case dangerouslyInsecure
    case token(String)
    /// HS256 server JWTs signed with this 32-byte key.
    case jwtHS256(secretKey: [UInt8])
}

/// How a build server authenticates to the scheduler (`scheduler_auth`, protocol §6.2).
public enum SchedulerAuthConfiguration: Sendable, Hashable {
    case dangerouslyInsecure
    case token(String)
    /// A server JWT made by `builder-server auth generate-jwt-hs256-server-token`.
    case jwtToken(String)
}
