import Crypto
import KilnProtocol

/// Random secrets in the forms sccache-dist's `auth` commands print (protocol §6.4).
public enum SecretGenerator {
    /// 32 random bytes, base64url without padding (43 characters): a `jwt_hs256` secret key.
    public static func hs256Key() -> String {
        Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// `bits`/8 random bytes, base64url without padding. `bits` must be a multiple of 8 from 64 to 4096.
    public static func sharedToken(bits: Int = 256) throws -> String {
        guard bits % 8 == 0, (64...4096).contains(bits) else {
            throw AuthError(.badKey, "--bits must be a multiple of 8 from 64 to 4096, not \(bits)")
        }
        return Base64URL.encode(SymmetricKey(size: SymmetricKeySize(bitCount: bits)).withUnsafeBytes { Array($0) })
    }

    /// Decodes a `jwt_hs256` secret: base64url without padding of exactly 32 bytes.
    public static func decodeHS256Key(_ text: String) throws -> [UInt8] {
        guard let key = Base64URL.decode(text), key.count == 32 else {
            throw AuthError(
                .badKey,
                "secret_key must be 32 bytes in base64url without padding (43 characters); make one with 'builder-server auth generate-jwt-hs256-key'"
            )
        }
        return key
    }
}
