import Crypto
import KilnProtocol

/// Job tokens in the one form sccache-dist's scheduler and Kiln's write them (protocol §6.3: the header
/// `{"typ":"JWT","alg":"HS256"}`, the claims `{"exp":0,"job_id":N}`, compact): made with one HMAC and no JSON
/// coder. A build server checks the same token at assign_job, submit_toolchain and run_job, and a scheduler signs
/// one per alloc_job; through jwt-kit each cost a JSON encoding or decoding and an actor hop (about 3% of each
/// server's CPU per trivial job, by `perf`). A token in any other form is left to ``HS256Authority``'s full check.
struct CanonicalJobToken: Sendable {
    private static let encodedHeader = Base64URL.encode(Array(#"{"typ":"JWT","alg":"HS256"}"#.utf8))
    /// The HMAC with the key already taken in (its padded inner and outer keys hashed), copied for each token:
    /// taking the key in is most of an HMAC's cost on a message this short.
    private let keyed: HMAC<SHA256>

    init(key: [UInt8]) { keyed = HMAC(key: SymmetricKey(data: key)) }

    /// The token for `jobID`.
    func token(for jobID: UInt64) -> String {
        let signingInput = Self.encodedHeader + "." + Base64URL.encode(Array(#"{"exp":0,"job_id":\#(jobID)}"#.utf8))
        var mac = keyed  // copy on write: the stored one is never changed
        mac.update(data: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(Array(mac.finalize()))
    }

    /// Whether `token` is exactly the token for `jobID`. Compared in time that does not depend on where the two
    /// first differ, so that a client cannot find a valid signature byte by byte.
    func matches(_ token: String, jobID: UInt64) -> Bool {
        let expected = Array(self.token(for: jobID).utf8)
        let presented = Array(token.utf8)
        guard expected.count == presented.count else { return false }
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ presented[index] }
        return difference == 0
    }
}
