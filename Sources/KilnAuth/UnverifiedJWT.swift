import Foundation
import KilnProtocol

/// Reading a JWT's parts without checking its signature: for the header's `alg`, and for the build server's
/// start-up check that its `jwt_token` names its own `public_addr` (upstream does the same, protocol §6.2).
public enum UnverifiedJWT {
    public static func header(of token: String) throws -> [String: Any] {
        try part(0, of: token)
    }

    public static func claims(of token: String) throws -> [String: Any] {
        try part(1, of: token)
    }

    private static func part(_ index: Int, of token: String) throws -> [String: Any] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(parts[index]),
            let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        else {
            throw AuthError(.malformed, "not a JWT: expected three base64url parts with JSON objects")
        }
        return object
    }
}
