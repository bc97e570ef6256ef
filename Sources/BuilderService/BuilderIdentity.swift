import Crypto
import Foundation
import KilnProtocol
import NIOSSL
import SwiftASN1
import X509

/// Who this build server is for one run (protocol §5.1, §5.4, §6.3): a fresh self-signed ECDSA P-256 certificate
/// signed with SHA-256 (CN and IP SAN = `public_addr`, EKU serverAuth, random positive serial, valid from an
/// hour ago), its SHA-256 digest, a random 32-byte job-token key and a random nonce. Nothing is written to disk.
///
/// Upstream uses RSA-2048. sccache clients open a new TLS connection for every request (protocol §1), so the
/// server signs one handshake per request; a P-256 signature costs a small fraction of an RSA-2048 one, and every
/// OpenSSL-based client and scheduler accepts it.
struct BuilderIdentity: Sendable {
    let serverID: ServerID
    let certificateDER: [UInt8]
    let certificatePEM: String
    let certificateDigest: [UInt8]
    let privateKeyPEM: String
    let jobTokenKey: [UInt8]
    let nonce: ServerNonce

    init(serverID: ServerID, now: Date = Date()) throws {
        self.serverID = serverID
        let signingKey = P256.Signing.PrivateKey()
        let key = Certificate.PrivateKey(signingKey)
        let name = try DistinguishedName { CommonName(serverID.description) }
        let extensions = try Certificate.Extensions {
            SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: ArraySlice(serverID.octets)))])
            try ExtendedKeyUsage([.serverAuth])
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - 3600, notValidAfter: now + 365 * 86400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: key)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        certificateDER = serializer.serializedBytes
        certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
        certificateDigest = Array(SHA256.hash(data: certificateDER))
        privateKeyPEM = signingKey.pemRepresentation
        jobTokenKey = (0..<32).map { _ in UInt8.random(in: .min ... .max) }
        nonce = ServerNonce(UInt64.random(in: .min ... .max))
    }

    /// The TLS settings of the HTTPS listener: this certificate, HTTP/1.1 only (no ALPN, like upstream).
    func tlsConfiguration() throws -> TLSConfiguration {
        let certificate = try NIOSSLCertificate(bytes: certificateDER, format: .der)
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        configuration.applicationProtocols = []
        return configuration
    }
}
