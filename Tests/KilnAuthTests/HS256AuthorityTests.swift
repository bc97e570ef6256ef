import Foundation
import KilnAuth
import KilnProtocol
import Testing

/// The token vectors of protocol §6.2 and §6.3, reproduced byte for byte, and every way a token must be refused.
@Suite struct HS256AuthorityTests {
    static let jobKey: [UInt8] = {
        let hex = "5bd43cd7e7a70520e6095180f6526cf7fb4148a458b0b150262df236b879e3b6"
        return stride(from: 0, to: hex.count, by: 2).map {
            let start = hex.index(hex.startIndex, offsetBy: $0)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16) ?? 0
        }
    }()
    static let jobZeroToken =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjAsImpvYl9pZCI6MH0.kN8OznOZcrXqGGknhHcdqK4ZlxxbHufD-MDIqtCt4uY"
    static let serverSecret = "AxZkaH80BwctVREiIk4n_ER-RgOutjU4OcgGA0WU04E"
    static let serverToken =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjAsInNlcnZlcl9pZCI6IjEyNy4wLjAuMToxMDUwMSJ9.C3AAx7ig-MFS2VpG0ykP_bvuFVTRvLD21MH2EL4_6uo"

    @Test func jobTokenVector() async throws {
        let authority = await HS256Authority(key: Self.jobKey)
        #expect(try await authority.jobToken(for: 0) == Self.jobZeroToken)
        try await authority.verifyJobToken(Self.jobZeroToken, jobID: 0)
    }

    @Test func serverTokenVector() async throws {
        let key = try SecretGenerator.decodeHS256Key(Self.serverSecret)
        let authority = await HS256Authority(key: key)
        #expect(try await authority.serverToken(for: "127.0.0.1:10501") == Self.serverToken)
        #expect(try await authority.verifyServerToken(Self.serverToken) == "127.0.0.1:10501")
    }

    @Test func wrongJobIsRefused() async throws {
        let authority = await HS256Authority(key: Self.jobKey)
        await #expect(throws: AuthError(.wrongSubject, "")) { try await authority.verifyJobToken(Self.jobZeroToken, jobID: 1) }
    }

    @Test func badSignatureIsRefused() async throws {
        let other = await HS256Authority(key: [UInt8](repeating: 7, count: 32))
        await #expect(throws: AuthError(.badSignature, "")) { try await other.verifyJobToken(Self.jobZeroToken, jobID: 0) }
    }

    static func forge(header: String, claims: String, key: [UInt8]) -> String {
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        return signingInput + "." + HMACForTests.sha256(key: key, message: Array(signingInput.utf8))
    }

    @Test func otherAlgorithmsAreRefused() async throws {
        let authority = await HS256Authority(key: Self.jobKey)
        let none = Base64URL.encode(Array(#"{"typ":"JWT","alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(#"{"exp":0,"job_id":0}"#.utf8)) + "."
        await #expect(throws: AuthError(.wrongAlgorithm, "")) { try await authority.verifyJobToken(none, jobID: 0) }
        let hs384 = Self.forge(header: #"{"typ":"JWT","alg":"HS384"}"#, claims: #"{"exp":0,"job_id":0}"#, key: Self.jobKey)
        await #expect(throws: AuthError(.wrongAlgorithm, "")) { try await authority.verifyJobToken(hs384, jobID: 0) }
    }

    @Test func extraOrMissingClaimsAreRefused() async throws {
        let authority = await HS256Authority(key: Self.jobKey)
        let header = #"{"typ":"JWT","alg":"HS256"}"#
        // Correctly signed, so only the claim check can refuse them.
        let extra = Self.forge(header: header, claims: #"{"exp":0,"job_id":0,"admin":true}"#, key: Self.jobKey)
        await #expect(throws: AuthError(.malformed, "")) { try await authority.verifyJobToken(extra, jobID: 0) }
        let missing = Self.forge(header: header, claims: #"{"job_id":0}"#, key: Self.jobKey)
        await #expect(throws: AuthError(.malformed, "")) { try await authority.verifyJobToken(missing, jobID: 0) }
        let nonzeroExp = Self.forge(header: header, claims: #"{"exp":5,"job_id":0}"#, key: Self.jobKey)
        await #expect(throws: AuthError(.wrongSubject, "")) { try await authority.verifyJobToken(nonzeroExp, jobID: 0) }
        let sane = Self.forge(header: header, claims: #"{"exp":0,"job_id":0}"#, key: Self.jobKey)
        try await authority.verifyJobToken(sane, jobID: 0)
        for junk in ["", "a.b", "a.b.c", "....", Self.jobZeroToken + "x"] {
            await #expect(throws: AuthError.self) { try await authority.verifyJobToken(junk, jobID: 0) }
        }
    }

    @Test func jobTokensAreSccacheDistsForEveryID() async throws {
        let authority = await HS256Authority(key: Self.jobKey)
        for id: UInt64 in [0, 1, 9, 10, 4_242, UInt64.max] {
            let token = try await authority.jobToken(for: id)
            #expect(token == Self.forge(header: #"{"typ":"JWT","alg":"HS256"}"#, claims: #"{"exp":0,"job_id":\#(id)}"#, key: Self.jobKey))
            try await authority.verifyJobToken(token, jobID: id)
            await #expect(throws: AuthError(.wrongSubject, "")) { try await authority.verifyJobToken(token, jobID: id &+ 1) }
            // The same length as the real one, the signature's first character off: not the quick match, not valid.
            let signature = token.lastIndex(of: ".").map { token.index(after: $0) } ?? token.startIndex
            let forged = token.replacingCharacters(in: signature...signature, with: token[signature] == "A" ? "B" : "A")
            await #expect(throws: AuthError(.badSignature, "")) { try await authority.verifyJobToken(forged, jobID: id) }
        }
    }

    @Test func tokensInAnotherValidFormAreStillAccepted() async throws {
        let authority = await HS256Authority(key: Self.jobKey)
        let reordered = Self.forge(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: #"{ "job_id": 7, "exp": 0 }"#, key: Self.jobKey)
        try await authority.verifyJobToken(reordered, jobID: 7)
        await #expect(throws: AuthError(.wrongSubject, "")) { try await authority.verifyJobToken(reordered, jobID: 8) }
    }

    @Test func generatedSecretsHaveSccacheShapes() throws {
        let key = SecretGenerator.hs256Key()
        #expect(key.count == 43)
        #expect(try SecretGenerator.decodeHS256Key(key).count == 32)
        #expect(try SecretGenerator.sharedToken().count == 43)
        #expect(try SecretGenerator.sharedToken(bits: 64).count == 11)
        #expect(throws: AuthError.self) { try SecretGenerator.sharedToken(bits: 65) }
        #expect(throws: AuthError.self) { try SecretGenerator.decodeHS256Key("short") }
    }
}
