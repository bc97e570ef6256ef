import JWTKit
import KilnProtocol

/// Claims of a job token: exactly `{"exp":0,"job_id":N}` (protocol §6.3).
public struct JobTokenClaims: JWTPayload, Equatable {
    public var exp: UInt64
    public var jobID: UInt64

    public init(jobID: UInt64) {
        exp = 0
        self.jobID = jobID
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case exp, jobID = "job_id" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyClaimKey.self)
        try AnyClaimKey.requireExactly(CodingKeys.allCases.map(\.rawValue), in: container)
        exp = try container.decode(UInt64.self, forKey: AnyClaimKey("exp"))
        jobID = try container.decode(UInt64.self, forKey: AnyClaimKey("job_id"))
    }

    /// Expiry is present but deliberately not checked, as upstream (`exp` is always 0).
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Claims of a server token for `jwt_hs256` server auth: exactly `{"exp":0,"server_id":"ip:port"}` (§6.2).
public struct ServerTokenClaims: JWTPayload, Equatable {
    public var exp: UInt64
    public var serverID: String

    public init(serverID: String) {
        exp = 0
        self.serverID = serverID
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case exp, serverID = "server_id" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyClaimKey.self)
        try AnyClaimKey.requireExactly(CodingKeys.allCases.map(\.rawValue), in: container)
        exp = try container.decode(UInt64.self, forKey: AnyClaimKey("exp"))
        serverID = try container.decode(String.self, forKey: AnyClaimKey("server_id"))
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Any JSON key, to see every claim a token carries (upstream decodes with `deny_unknown_fields`).
struct AnyClaimKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    static func requireExactly(_ names: [String], in container: KeyedDecodingContainer<AnyClaimKey>) throws {
        let present = Set(container.allKeys.map(\.stringValue))
        guard present == Set(names) else {
            throw AuthError(.malformed, "claims must be exactly \(names.sorted()), found \(present.sorted())")
        }
    }
}
