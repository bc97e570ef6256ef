import CurlClient
import Foundation
import JWTKit
import KilnAuth
import Logging

/// `jwt_validate` client auth: RS256 JWTs checked against a JWKS fetched at start and fetched again when a token
/// names an unknown `kid` (key rotation); `aud` and `iss` must match, `exp` must be there and not passed (as
/// upstream's jsonwebtoken requires), and `nbf`, when there, must have come. `clock` paces the JWKS refetches;
/// `wallClock` is the time `exp` and `nbf` are read against.
actor JWTValidator<C: Clock<Duration>> {
    struct Claims: JWTPayload {
        var aud: AudienceClaim
        var iss: IssuerClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        /// The times are checked against the validator's wall clock once the signature holds (see `check`).
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// The least time between two JWKS fetches for unknown `kid`s, so bad tokens cannot hammer the JWKS host.
    static var refetchInterval: Duration { .seconds(2) }

    private let audience: String
    private let issuer: String
    private let jwksURL: String
    private let logger: Logger
    private var keys = JWTKeyCollection()
    private var knownKIDs: Set<String> = []
    private var lastRefresh: C.Instant?
    private let clock: C
    private let wallClock: @Sendable () -> Date

    init(
        audience: String, issuer: String, jwksURL: String, logger: Logger, clock: C, wallClock: @escaping @Sendable () -> Date = Date.init
    )
        async throws
    {
        self.clock = clock
        self.wallClock = wallClock
        self.audience = audience
        self.issuer = issuer
        self.jwksURL = jwksURL
        self.logger = logger
        try await refresh()
    }

    private func refresh() async throws {
        let response = try await CurlTransport().perform(HTTPRequest(method: .get, url: jwksURL, timeoutSeconds: 10, maxResponseBytes: 4 << 20))
        guard response.status == 200 || jwksURL.hasPrefix("file:") else {
            throw CurlError(.transfer, "JWKS at \(jwksURL) answered \(response.status)")
        }
        let jwks = try JSONDecoder().decode(JWKS.self, from: Data(response.body))
        let collection = JWTKeyCollection()
        try await collection.add(jwks: jwks)
        keys = collection
        knownKIDs = Set(jwks.keys.compactMap { $0.keyIdentifier?.string })
        lastRefresh = clock.now
        logger.info("loaded JWKS", metadata: ["jwks.url": "\(jwksURL)", "jwks.keys": "\(knownKIDs.count)"])
    }

    func check(_ token: String) async -> ClientAuthenticator<C>.Verdict {
        guard let header = try? UnverifiedJWT.header(of: token), let kid = header["kid"] as? String else {
            return .refused("JWT has no kid")
        }
        if !knownKIDs.contains(kid) {
            // Rotated keys: fetch again, at most once per `refetchInterval`.
            if lastRefresh.map({ $0.duration(to: clock.now) > Self.refetchInterval }) ?? true {
                do { try await refresh() } catch { return .unavailable("JWKS refresh failed: \(error)") }
            }
            guard knownKIDs.contains(kid) else { return .refused("JWT kid \(kid) is not in the JWKS") }
        }
        do {
            let claims = try await keys.verify(token, as: Claims.self)
            try claims.exp.verifyNotExpired(currentDate: wallClock())
            try claims.nbf?.verifyNotBefore(currentDate: wallClock())
            guard claims.aud.value.contains(audience) else { return .refused("JWT audience mismatch") }
            guard claims.iss.value == issuer else { return .refused("JWT issuer mismatch") }
            return .accepted
        } catch {
            return .refused("JWT validation failed")
        }
    }
}
