import CurlClient
import Foundation
import JWTKit
import KilnAuth
import Logging

/// `jwt_validate` client auth: RS256 JWTs checked against a JWKS fetched at start and fetched again when a token
/// names an unknown `kid` (key rotation); `aud` and `iss` must match, `exp` must be there and not passed (as
/// upstream's jsonwebtoken requires), and `nbf`, when there, must have come.
actor JWTValidator {
    struct Claims: JWTPayload {
        var aud: AudienceClaim
        var iss: IssuerClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }

    private let audience: String
    private let issuer: String
    private let jwksURL: String
    private let logger: Logger
    private var keys = JWTKeyCollection()
    private var knownKIDs: Set<String> = []
    private var lastRefresh: ContinuousClock.Instant?

    init(audience: String, issuer: String, jwksURL: String, logger: Logger) async throws {
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
        lastRefresh = .now
        logger.info("loaded JWKS", metadata: ["jwks.url": "\(jwksURL)", "jwks.keys": "\(knownKIDs.count)"])
    }

    func check(_ token: String) async -> ClientAuthenticator.Verdict {
        guard let header = try? UnverifiedJWT.header(of: token), let kid = header["kid"] as? String else {
            return .refused("JWT has no kid")
        }
        if !knownKIDs.contains(kid) {
            // Rotated keys: fetch again, at most every 2 s so bad tokens cannot hammer the JWKS host.
            if lastRefresh.map({ $0.duration(to: .now) > .seconds(2) }) ?? true {
                do { try await refresh() } catch { return .unavailable("JWKS refresh failed: \(error)") }
            }
            guard knownKIDs.contains(kid) else { return .refused("JWT kid \(kid) is not in the JWKS") }
        }
        do {
            let claims = try await keys.verify(token, as: Claims.self)
            guard claims.aud.value.contains(audience) else { return .refused("JWT audience mismatch") }
            guard claims.iss.value == issuer else { return .refused("JWT issuer mismatch") }
            return .accepted
        } catch {
            return .refused("JWT validation failed")
        }
    }
}
