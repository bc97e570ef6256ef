/// `SchedulerStatusResult`: the answer to `GET /api/v1/scheduler/status`.
public struct SchedulerStatusResult: Hashable, Sendable, Codable {
    public var numServers: Int
    public var numCPUs: Int
    public var inProgress: Int
    public init(numServers: Int, numCPUs: Int, inProgress: Int) {
        self.numServers = numServers
        self.numCPUs = numCPUs
        self.inProgress = inProgress
    }
    enum CodingKeys: String, CodingKey {
        case numServers = "num_servers", numCPUs = "num_cpus", inProgress = "in_progress"
    }
}

/// `JobAlloc`: where a job runs and the token that lets the client talk to that server.
public struct JobAlloc: Hashable, Sendable, Codable {
    /// The job token (HS256 JWT, protocol §6.3).
    public var auth: String
    public var jobID: JobID
    public var serverID: ServerID
    public init(auth: String, jobID: JobID, serverID: ServerID) {
        self.auth = auth
        self.jobID = jobID
        self.serverID = serverID
    }
    enum CodingKeys: String, CodingKey { case auth, jobID = "job_id", serverID = "server_id" }
}

/// The payload of `AllocJobHttpResponse::Success`.
public struct AllocJobSuccess: Hashable, Sendable, Codable {
    public var jobAlloc: JobAlloc
    public var needToolchain: Bool
    /// SHA-256 of the server certificate's DER: the client's key for the certificate to trust.
    public var certDigest: [UInt8]
    public init(jobAlloc: JobAlloc, needToolchain: Bool, certDigest: [UInt8]) {
        self.jobAlloc = jobAlloc
        self.needToolchain = needToolchain
        self.certDigest = certDigest
    }
    enum CodingKeys: String, CodingKey {
        case jobAlloc = "job_alloc", needToolchain = "need_toolchain", certDigest = "cert_digest"
    }
}

/// A message payload `{msg}` of the `Fail` variants.
public struct FailureMessage: Hashable, Sendable, Codable {
    public var msg: String
    public init(_ msg: String) { self.msg = msg }
}

/// `AllocJobHttpResponse`: the answer to `alloc_job`. `Fail` makes the client compile locally.
public enum AllocJobHttpResponse: Hashable, Sendable, Codable {
    case success(AllocJobSuccess)
    case fail(String)

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .success(let payload): try encoder.encodeVariant(0, "Success", payload: payload)
        case .fail(let message): try encoder.encodeVariant(1, "Fail", payload: FailureMessage(message))
        }
    }
    public init(from decoder: any Decoder) throws {
        let variant = try decoder.decodeVariant(names: ["Success", "Fail"])
        self = variant.index == 0 ? .success(try variant.payload(AllocJobSuccess.self)) : .fail(try variant.payload(FailureMessage.self).msg)
    }
}

/// `ServerCertificateHttpResponse`: a server's certificate for the client to trust.
public struct ServerCertificateHttpResponse: Hashable, Sendable, Codable {
    public var certDigest: [UInt8]
    public var certPEM: [UInt8]
    public init(certDigest: [UInt8], certPEM: [UInt8]) {
        self.certDigest = certDigest
        self.certPEM = certPEM
    }
    enum CodingKeys: String, CodingKey { case certDigest = "cert_digest", certPEM = "cert_pem" }
}

/// `HeartbeatServerHttpRequest`: a build server's registration, sent every 30 s.
public struct HeartbeatServerHttpRequest: Hashable, Sendable, Codable {
    /// The 32-byte key the scheduler signs this server's job tokens with.
    public var jwtKey: [UInt8]
    public var numCPUs: Int
    public var serverNonce: ServerNonce
    public var certDigest: [UInt8]
    public var certPEM: [UInt8]
    public init(jwtKey: [UInt8], numCPUs: Int, serverNonce: ServerNonce, certDigest: [UInt8], certPEM: [UInt8]) {
        self.jwtKey = jwtKey
        self.numCPUs = numCPUs
        self.serverNonce = serverNonce
        self.certDigest = certDigest
        self.certPEM = certPEM
    }
    enum CodingKeys: String, CodingKey {
        case jwtKey = "jwt_key", numCPUs = "num_cpus", serverNonce = "server_nonce", certDigest = "cert_digest"
        case certPEM = "cert_pem"
    }
}

/// `HeartbeatServerResult`.
public struct HeartbeatServerResult: Hashable, Sendable, Codable {
    public var isNew: Bool
    public init(isNew: Bool) { self.isNew = isNew }
    enum CodingKeys: String, CodingKey { case isNew = "is_new" }
}

/// `UpdateJobStateResult`: the answer to `job_state`.
public enum UpdateJobStateResult: Hashable, Sendable, Codable {
    case success
    case fail(String)

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .success: try encoder.encodeUnitVariant(0, "Success")
        case .fail(let message): try encoder.encodeVariant(1, "Fail", payload: FailureMessage(message))
        }
    }
    public init(from decoder: any Decoder) throws {
        let variant = try decoder.decodeVariant(names: ["Success", "Fail"])
        self = variant.index == 0 ? .success : .fail(try variant.payload(FailureMessage.self).msg)
    }
}
