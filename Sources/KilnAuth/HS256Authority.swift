import Crypto
import JWTKit
import KilnProtocol

/// Signs and verifies sccache's HS256 tokens with one 32-byte key: job tokens (the build server's `jwt_key`)
/// and server tokens (the scheduler's `jwt_hs256` secret).
public struct HS256Authority: Sendable {
    private let keys: JWTKeyCollection
    private let jobTokens: CanonicalJobToken

    public init(key: [UInt8]) async {
        jobTokens = CanonicalJobToken(key: key)
        keys = JWTKeyCollection()
        await keys.add(
            hmac: HMACKey(key: SymmetricKey(data: key)), digestAlgorithm: .sha256,
            serializer: DefaultJWTSerializer(jsonEncoder: HeaderOrderEncoder()))
    }

    /// The job token for `jobID`: `{"exp":0,"job_id":N}`.
    public func jobToken(for jobID: UInt64) async throws -> String {
        jobTokens.token(for: jobID)
    }

    /// The server token for `serverID` (`ip:port`): `{"exp":0,"server_id":"…"}`.
    public func serverToken(for serverID: String) async throws -> String {
        try await keys.sign(ServerTokenClaims(serverID: serverID))
    }

    /// Verifies a job token and that it names `jobID`.
    public func verifyJobToken(_ token: String, jobID: UInt64) async throws {
        // The form every known scheduler writes; any other still gets the full check below.
        if jobTokens.matches(token, jobID: jobID) { return }
        let claims: JobTokenClaims = try await verify(token)
        guard claims == JobTokenClaims(jobID: jobID) else {
            throw AuthError(.wrongSubject, "the token is for job \(claims.jobID) (exp \(claims.exp)), not job \(jobID)")
        }
    }

    /// Verifies a server token and returns the `server_id` it names.
    public func verifyServerToken(_ token: String) async throws -> String {
        let claims: ServerTokenClaims = try await verify(token)
        guard claims.exp == 0 else { throw AuthError(.malformed, "server token exp must be 0") }
        return claims.serverID
    }

    private func verify<Claims: JWTPayload>(_ token: String) async throws -> Claims {
        let header = try UnverifiedJWT.header(of: token)
        guard header["alg"] as? String == "HS256" else {
            throw AuthError(.wrongAlgorithm, "only HS256 tokens are accepted, this one says \(header["alg"] ?? "nothing")")
        }
        do {
            return try await keys.verify(token, as: Claims.self)
        } catch let error as AuthError {
            throw error
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw AuthError(.badSignature, "the token's signature does not verify", underlying: error)
        } catch {
            if let auth = Self.authError(in: error) { throw auth }
            throw AuthError(.malformed, "the token does not decode", underlying: error)
        }
    }

    /// jwt-kit wraps payload decoding errors; find ours (wrong claim set) inside.
    private static func authError(in error: any Error) -> AuthError? {
        let text = String(describing: error)
        return text.contains("claims must be exactly")
            ? AuthError(.malformed, "the token carries other claims than expected", underlying: error) : nil
    }
}
