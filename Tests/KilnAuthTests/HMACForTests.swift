import Crypto
import KilnAuth
import KilnProtocol

/// Signs hand-made tokens so that tests can reach the checks behind the signature.
enum HMACForTests {
    static func sha256(key: [UInt8], message: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return Base64URL.encode(Array(mac))
    }
}
