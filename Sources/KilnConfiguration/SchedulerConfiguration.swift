import KilnProtocol

/// The scheduler's configuration: sccache-dist's `scheduler.toml` keys plus Kiln's own (protocol §9.1).
///
/// | key | meaning |
/// |---|---|
/// | `public_addr` | listen address (plain HTTP), required |
/// | `client_auth` | table with `type`, required (§6.1) |
/// | `server_auth` | table with `type`, required (§6.2) |
/// | `trusted_proxies` | Kiln: IPs whose `X-Real-IP` header is believed (default: none, the header is ignored) |
/// | `state_dir` | Kiln: where the job-id counter persists across restarts (default: ids start from the clock) |
/// | `assign_job_timeout` | Kiln: seconds to wait for a build server's `assign_job` answer (default 30) |
/// | `unstarted_job_timeout` | Kiln: seconds an allocated job may go without starting before its slot is freed (default 300) |
/// | `job_lease` | Kiln: seconds a started job may go without its Complete report before its slot is freed (default 1260) |
/// | `connection_idle_timeout`, `max_connections` | Kiln: ``ConnectionLimitsConfiguration`` |
/// | `[reapi]` | Kiln: the Remote Execution API endpoint, ``REAPIConfiguration`` (default: none) |
public struct SchedulerConfiguration: Sendable, Hashable {
    public var publicAddress: ServerID
    public var clientAuth: ClientAuthConfiguration
    public var serverAuth: ServerAuthConfiguration
    public var trustedProxies: [[UInt8]]
    public var stateDirectory: String?
    public var assignJobTimeoutSeconds: Int
    public var unstartedJobTimeoutSeconds = 300
    public var jobLeaseSeconds = 1260
    public var connections = ConnectionLimitsConfiguration()
    public var reapi: REAPIConfiguration?

    /// The longest `unstarted_job_timeout` and `job_lease` taken: a week.
    static let maxJobSeconds = 7 * 86_400

    public init(
        publicAddress: ServerID, clientAuth: ClientAuthConfiguration, serverAuth: ServerAuthConfiguration,
        trustedProxies: [[UInt8]] = [], stateDirectory: String? = nil, assignJobTimeoutSeconds: Int = 30
    ) {
        self.publicAddress = publicAddress
        self.clientAuth = clientAuth
        self.serverAuth = serverAuth
        self.trustedProxies = trustedProxies
        self.stateDirectory = stateDirectory
        self.assignJobTimeoutSeconds = assignJobTimeoutSeconds
    }

    init(reading reader: inout TOMLTableReader) throws {
        publicAddress = try reader.requiredAddress("public_addr")
        var client = try reader.requiredTable(
            "client_auth", "a table with type = \"token\", \"DANGEROUSLY_INSECURE\", \"jwt_validate\" or \"proxy_token\"")
        clientAuth = try Self.clientAuth(&client)
        try client.finish()
        var server = try reader.requiredTable("server_auth", "a table with type = \"jwt_hs256\", \"token\" or \"DANGEROUSLY_INSECURE\"")
        serverAuth = try Self.serverAuth(&server)
        try server.finish()
        trustedProxies = try (reader.stringArray("trusted_proxies") ?? []).map { text in
            guard let ip = ServerID.parseIP(text) else {
                throw ConfigurationError(.invalidValue, key: "trusted_proxies", "'\(text)' is not an IP address")
            }
            return ip
        }
        stateDirectory = try reader.string("state_dir")
        assignJobTimeoutSeconds = try reader.integer("assign_job_timeout") ?? 30
        guard assignJobTimeoutSeconds > 0 else {
            throw ConfigurationError(.invalidValue, key: "assign_job_timeout", "expected a positive number of seconds")
        }
        unstartedJobTimeoutSeconds = try Self.jobSeconds(&reader, "unstarted_job_timeout") ?? unstartedJobTimeoutSeconds
        jobLeaseSeconds = try Self.jobSeconds(&reader, "job_lease") ?? jobLeaseSeconds
        connections = try ConnectionLimitsConfiguration(reading: &reader)
        if var table = try reader.table("reapi") {
            reapi = try REAPIConfiguration(reading: &table, stateDirectory: stateDirectory)
            try table.finish()
        }
    }

    private static func jobSeconds(_ reader: inout TOMLTableReader, _ key: String) throws -> Int? {
        guard let seconds = try reader.integer(key) else { return nil }
        guard (1...maxJobSeconds).contains(seconds) else {
            throw ConfigurationError(.invalidValue, key: key, "expected seconds between 1 and \(maxJobSeconds) (a week), got \(seconds)")
        }
        return seconds
    }

    private static func clientAuth(_ table: inout TOMLTableReader) throws -> ClientAuthConfiguration {
        let type = try table.requiredString("type", "the auth type")
        switch type {
        case "DANGEROUSLY_INSECURE": return .dangerouslyInsecure
        case "token": return .token(try table.requiredString("token"))
        case "jwt_validate":
            return .jwtValidate(
                audience: try table.requiredString("audience"), issuer: try table.requiredString("issuer"),
                jwksURL: try table.requiredString("jwks_url"))
        case "proxy_token": return .proxyToken(url: try table.requiredString("url"), cacheSeconds: try table.integer("cache_secs"))
        case "mozilla": return .mozilla(requiredGroups: try table.stringArray("required_groups") ?? [])
        default:
            throw ConfigurationError(
                .invalidValue, key: table.keyPath("type"),
                "'\(type)' is not a client auth type; expected DANGEROUSLY_INSECURE, token, jwt_validate, proxy_token (or mozilla)")
        }
    }

    private static func serverAuth(_ table: inout TOMLTableReader) throws -> ServerAuthConfiguration {
        let type = try table.requiredString("type", "the auth type")
        switch type {
        case "DANGEROUSLY_INSECURE": return .dangerouslyInsecure
        case "token": return .token(try table.requiredString("token"))
        case "jwt_hs256":
            let text = try table.requiredString("secret_key")
            guard let key = Base64URL.decode(text), key.count == 32 else {
                throw ConfigurationError(
                    .invalidValue, key: table.keyPath("secret_key"),
                    "expected 32 bytes in base64url without padding (43 characters); make one with 'builder-server auth generate-jwt-hs256-key'")
            }
            return .jwtHS256(secretKey: key)
        default:
            throw ConfigurationError(
                .invalidValue, key: table.keyPath("type"), "'\(type)' is not a server auth type; expected DANGEROUSLY_INSECURE, token or jwt_hs256")
        }
    }
}
