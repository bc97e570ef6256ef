import CurlClient
import Foundation
import KilnConfiguration
import Logging

/// Checks the bearer token of `alloc_job` (protocol §6.1). `clock` times the proxy's answer cache and the JWKS
/// refetches.
actor ClientAuthenticator<C: Clock<Duration>> {
    enum Verdict: Equatable {
        case accepted
        /// 401 `bearer_auth_failed` with this body: the compile fails, as upstream.
        case refused(String)
        /// The check itself could not run (proxy or JWKS down): a 500, so clients compile locally.
        case unavailable(String)
    }

    private let mode: ClientAuthConfiguration
    private let transport = CurlTransport()
    private var proxyCache: [String: C.Instant] = [:]
    private let jwt: JWTValidator<C>?
    private let clock: C

    init(_ mode: ClientAuthConfiguration, logger: Logger, clock: C) async throws {
        self.mode = mode
        self.clock = clock
        if case .jwtValidate(let audience, let issuer, let url) = mode {
            jwt = try await JWTValidator(audience: audience, issuer: issuer, jwksURL: url, logger: logger, clock: clock)
        } else {
            jwt = nil
        }
    }

    func check(_ token: String) async -> Verdict {
        switch mode {
        case .dangerouslyInsecure:
            return ConstantTime.equal(Array(token.utf8), Array("dangerously_insecure_client".utf8)) ? .accepted : .refused("Fixed token mismatch")
        case .token(let expected):
            return ConstantTime.equal(Array(token.utf8), Array(expected.utf8)) ? .accepted : .refused("Fixed token mismatch")
        case .proxyToken(let url, let cacheSeconds):
            return await checkWithProxy(token, url: url, cacheSeconds: cacheSeconds)
        case .jwtValidate:
            guard let jwt else { return .unavailable("JWT validation is not set up") }
            return await jwt.check(token)
        case .mozilla:
            return .unavailable("client_auth type \"mozilla\" was removed in sccache 0.11 and cannot be served; use jwt_validate or proxy_token")
        }
    }

    private func checkWithProxy(_ token: String, url: String, cacheSeconds: Int?) async -> Verdict {
        let now = clock.now
        if let until = proxyCache[token], now < until { return .accepted }
        let request = HTTPRequest(
            method: .get, url: url, headers: [("Authorization", "Bearer \(token)")], timeoutSeconds: 10, maxResponseBytes: 1 << 20)
        do {
            let response = try await transport.perform(request)
            guard (200..<300).contains(response.status) else { return .refused("Token rejected by the auth proxy") }
            if let seconds = cacheSeconds, seconds > 0 {
                proxyCache = proxyCache.filter { $0.value > now }
                proxyCache[token] = now.advanced(by: .seconds(seconds))
            }
            return .accepted
        } catch {
            return .unavailable("the auth proxy could not be asked: \(error)")
        }
    }
}
