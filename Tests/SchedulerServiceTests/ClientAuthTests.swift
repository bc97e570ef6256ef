import CryptoExtras
import CurlClient
import Foundation
import Hummingbird
import JWTKit
import KilnConfiguration
import KilnProtocol
import KilnTestSupport
import Logging
import ServiceLifecycle
import Testing

@testable import SchedulerService

/// `proxy_token` against a real HTTP auth proxy, and `jwt_validate` with RS256 tokens and a JWKS that rotates.
@Suite struct ClientAuthTests {
    static let toolchain: [UInt8] = [64, 0, 0, 0, 0, 0, 0, 0] + Array(String(repeating: "cd", count: 32).utf8)

    static func expectStatus(_ base: String, token: String, _ expected: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let status = try await SchedulerEndpointTests.send(.post, base + "/alloc_job", token: token, body: toolchain).status
        #expect(status == expected, sourceLocation: sourceLocation)
    }

    static func scheduler(clientAuth: ClientAuthConfiguration, _ body: @Sendable (String) async throws -> Void) async throws {
        try await SchedulerEndpointTests.withScheduler(clientAuth: clientAuth, body)
    }

    @Test func proxyToken() async throws {
        let router = Router()
        router.get("check") { request, _ -> HTTPResponse.Status in
            request.headers[.authorization] == "Bearer good" ? .ok : .unauthorized
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let proxy = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await proxy.run() }
            var ports = stream.makeAsyncIterator()
            let port = await ports.next() ?? 0
            try await Self.scheduler(clientAuth: .proxyToken(url: "http://127.0.0.1:\(port)/check", cacheSeconds: 60)) { base in
                try await Self.expectStatus(base, token: "good", 200)
                try await Self.expectStatus(base, token: "bad", 401)
            }
            group.cancelAll()
        }
        // A proxy that cannot be reached is the farm's problem: 500, so clients compile locally.
        try await Self.scheduler(clientAuth: .proxyToken(url: "http://127.0.0.1:9/check", cacheSeconds: nil)) { base in
            try await Self.expectStatus(base, token: "good", 500)
        }
    }

    struct Claims: JWTPayload {
        var aud: AudienceClaim
        var iss: IssuerClaim
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func jwk(_ key: JWTKit.Insecure.RSA.PrivateKey, kid: String) throws -> String {
        let (modulus, exponent) = try key.publicKey.getKeyPrimitives()
        return #"{"kty":"RSA","alg":"RS256","use":"sig","kid":"\#(kid)","n":"\#(Base64URL.encode(modulus))","e":"\#(Base64URL.encode(exponent))"}"#
    }

    /// A token expiring in `expiresIn` seconds (nil: no `exp` claim), valid from `notBefore` seconds from now.
    static func token(
        _ key: JWTKit.Insecure.RSA.PrivateKey, kid: String, audience: String = "kiln", issuer: String = "https://issuer.test",
        expiresIn: Double? = 600, notBefore: Double? = nil
    ) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        let claims = Claims(
            aud: AudienceClaim(value: audience), iss: IssuerClaim(value: issuer),
            exp: expiresIn.map { ExpirationClaim(value: Date().addingTimeInterval($0)) },
            nbf: notBefore.map { NotBeforeClaim(value: Date().addingTimeInterval($0)) })
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    @Test func jwtValidateWithRotatingJWKS() async throws {
        let first = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let second = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let directory = try TemporaryDirectory()
        let jwksPath = try directory.write("jwks.json", Array(#"{"keys":[\#(try Self.jwk(first, kid: "one"))]}"#.utf8))
        let good = try await Self.token(first, kid: "one")
        let wrongAudience = try await Self.token(first, kid: "one", audience: "someone-else")
        let wrongIssuer = try await Self.token(first, kid: "one", issuer: "https://evil.test")
        let rotated = try await Self.token(second, kid: "two")
        let forged = try await Self.token(second, kid: "one")  // right kid, wrong key
        let noExpiry = try await Self.token(first, kid: "one", expiresIn: nil)
        let expired = try await Self.token(first, kid: "one", expiresIn: -600)
        let notYet = try await Self.token(first, kid: "one", notBefore: 600)
        let alreadyValid = try await Self.token(first, kid: "one", notBefore: -600)
        try await Self.scheduler(clientAuth: .jwtValidate(audience: "kiln", issuer: "https://issuer.test", jwksURL: "file://\(jwksPath)")) { base in
            try await Self.expectStatus(base, token: good, 200)
            try await Self.expectStatus(base, token: wrongAudience, 401)
            try await Self.expectStatus(base, token: wrongIssuer, 401)
            try await Self.expectStatus(base, token: forged, 401)
            try await Self.expectStatus(base, token: "not.a.jwt", 401)
            // Issue 20, item 7: exp is required, as upstream; nbf is checked when present.
            try await Self.expectStatus(base, token: noExpiry, 401)
            try await Self.expectStatus(base, token: expired, 401)
            try await Self.expectStatus(base, token: notYet, 401)
            try await Self.expectStatus(base, token: alreadyValid, 200)
            // A kid the JWKS lacks is refused (its refetch is paced: see the next test).
            try await Self.expectStatus(base, token: rotated, 401)
        }
    }

    /// The issuer rotates its keys: a new kid is fetched on first sight, but at most once per refetch interval,
    /// timed by the injected clock (no test waits for real time).
    @Test func aNewKidIsFetchedOncePerRefetchInterval() async throws {
        let first = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let second = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let directory = try TemporaryDirectory()
        let jwksPath = try directory.write("jwks.json", Array(#"{"keys":[\#(try Self.jwk(first, kid: "one"))]}"#.utf8))
        let clock = ManualClock()
        let authenticator = try await ClientAuthenticator(
            .jwtValidate(audience: "kiln", issuer: "https://issuer.test", jwksURL: "file://\(jwksPath)"), logger: Logger(label: "test"),
            clock: clock)
        let rotated = try await Self.token(second, kid: "two")
        #expect(await authenticator.check(try await Self.token(first, kid: "one")) == .accepted)
        #expect(await authenticator.check(rotated) == .refused("JWT kid two is not in the JWKS"))
        try Data(#"{"keys":[\#(try Self.jwk(first, kid: "one")),\#(try Self.jwk(second, kid: "two"))]}"#.utf8).write(
            to: URL(fileURLWithPath: jwksPath))
        // Within the interval of the last fetch the JWKS is not read again, whatever the tokens say.
        clock.advance(by: .seconds(1))
        #expect(await authenticator.check(rotated) == .refused("JWT kid two is not in the JWKS"))
        clock.advance(by: JWTValidator<ManualClock>.refetchInterval)
        #expect(await authenticator.check(rotated) == .accepted)
    }

    /// `exp` and `nbf` are read against the validator's wall clock.
    @Test func expiryIsReadAgainstTheWallClock() async throws {
        let key = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let directory = try TemporaryDirectory()
        let jwksPath = try directory.write("jwks.json", Array(#"{"keys":[\#(try Self.jwk(key, kid: "one"))]}"#.utf8))
        let token = try await Self.token(key, kid: "one", expiresIn: 600, notBefore: 60)
        for (offset, expected) in [(0.0, false), (120.0, true), (1200.0, false)] {
            let validator = try await JWTValidator(
                audience: "kiln", issuer: "https://issuer.test", jwksURL: "file://\(jwksPath)", logger: Logger(label: "test"),
                clock: ManualClock(), wallClock: { Date().addingTimeInterval(offset) })
            #expect(await validator.check(token) == (expected ? .accepted : .refused("JWT validation failed")), "at now + \(offset) s")
        }
    }
}
