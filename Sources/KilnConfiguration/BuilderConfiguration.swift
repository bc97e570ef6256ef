import KilnProtocol

/// A build server's configuration: sccache-dist's `server.toml` keys (0.4 and HEAD) plus Kiln's own (§9.2).
///
/// | key | meaning |
/// |---|---|
/// | `builder` | table with `type` = `overlay` (`build_dir`, `bwrap_path`), `docker`, or `pot`; required |
/// | `cache_dir` | the toolchain cache lives in `<cache_dir>/tc`; required |
/// | `public_addr` | advertised address: certificate, URLs, token; required |
/// | `bind_address` | listen address (sccache ≥ 0.10); default `public_addr` |
/// | `scheduler_url` | `http(s)://host[:port]` with path `/`, or a bare `ip:port`; required |
/// | `scheduler_auth` | table with `type` = `DANGEROUSLY_INSECURE`, `token`, `jwt_token`; required |
/// | `toolchain_cache_size` | bytes (integer, or "10G"); default 10 GiB |
/// | `max_jobs` | Kiln: concurrent jobs; default cores + 1 + cores/8 (sccache's HEAD cap) |
/// | `metrics_addr` | Kiln: address of a plain-HTTP `/metrics` listener; default none |
/// | `drain_timeout` | Kiln: seconds a SIGTERM waits for running jobs; default the job timeout + 30 |
/// | `job_limits` | Kiln: table of per-job limits (``JobLimitsConfiguration``); defaults apply without it |
/// | `job_environment` | Kiln: the client variables that reach the compiler (``JobEnvironmentConfiguration``) |
/// | `result_cache` | Kiln: the cache of finished jobs (``ResultCacheConfiguration``); on by default |
/// | `connection_idle_timeout`, `max_connections` | Kiln: ``ConnectionLimitsConfiguration`` |
public struct BuilderConfiguration: Sendable, Hashable {
    public var sandbox: SandboxConfiguration
    public var cacheDirectory: String
    public var publicAddress: ServerID
    public var bindAddress: ServerID
    public var schedulerURL: String
    public var schedulerAuth: SchedulerAuthConfiguration
    public var toolchainCacheSize: UInt64
    public var maxJobs: Int?
    public var metricsAddress: ServerID?
    public var drainTimeoutSeconds: Int?
    public var jobLimits: JobLimitsConfiguration
    public var jobEnvironment: JobEnvironmentConfiguration
    public var resultCache: ResultCacheConfiguration
    public var connections: ConnectionLimitsConfiguration

    init(reading reader: inout TOMLTableReader) throws {
        var builder = try reader.requiredTable("builder", "a table with type = \"overlay\", \"docker\" or \"pot\"")
        sandbox = try SandboxConfiguration(reading: &builder)
        try builder.finish()
        cacheDirectory = try reader.requiredString("cache_dir", "a directory path")
        publicAddress = try reader.requiredAddress("public_addr")
        bindAddress = try reader.address("bind_address") ?? publicAddress
        schedulerURL = try Self.normalizedSchedulerURL(try reader.requiredString("scheduler_url", "a URL such as http://127.0.0.1:10600"))
        var auth = try reader.requiredTable("scheduler_auth", "a table with type = \"jwt_token\", \"token\" or \"DANGEROUSLY_INSECURE\"")
        schedulerAuth = try Self.schedulerAuth(&auth)
        try auth.finish()
        toolchainCacheSize = try reader.byteCount("toolchain_cache_size") ?? 10 << 30
        maxJobs = try reader.integer("max_jobs")
        if let jobs = maxJobs, jobs < 1 {
            throw ConfigurationError(.invalidValue, key: "max_jobs", "expected at least 1")
        }
        metricsAddress = try reader.address("metrics_addr")
        drainTimeoutSeconds = try reader.integer("drain_timeout")
        if let drain = drainTimeoutSeconds, drain < 0 {
            throw ConfigurationError(.invalidValue, key: "drain_timeout", "expected 0 (stop at once) or more seconds")
        }
        jobLimits = try Self.optionalTable("job_limits", in: &reader, JobLimitsConfiguration.init(reading:)) ?? .init()
        jobEnvironment = try Self.optionalTable("job_environment", in: &reader, JobEnvironmentConfiguration.init(reading:)) ?? .init()
        resultCache = try Self.optionalTable("result_cache", in: &reader, ResultCacheConfiguration.init(reading:)) ?? .init()
        connections = try ConnectionLimitsConfiguration(reading: &reader)
    }

    private static func optionalTable<T>(
        _ key: String, in reader: inout TOMLTableReader, _ make: (inout TOMLTableReader) throws -> T
    ) throws -> T? {
        guard var table = try reader.table(key) else { return nil }
        let value = try make(&table)
        try table.finish()
        return value
    }

    /// sccache takes `ip:port` alone as http; the path must be `/`.
    static func normalizedSchedulerURL(_ text: String) throws -> String {
        let url = text.contains("://") ? text : "http://\(text)"
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ConfigurationError(.invalidValue, key: "scheduler_url", "'\(text)' must start with http:// or https://")
        }
        let afterScheme = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard afterScheme.count >= 3, !afterScheme[2].isEmpty, afterScheme.count == 3 || afterScheme[3].isEmpty else {
            throw ConfigurationError(.invalidValue, key: "scheduler_url", "'\(text)' must be http(s)://host[:port] with path /")
        }
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    private static func schedulerAuth(_ table: inout TOMLTableReader) throws -> SchedulerAuthConfiguration {
        let type = try table.requiredString("type", "the auth type")
        switch type {
        case "DANGEROUSLY_INSECURE": return .dangerouslyInsecure
        case "token": return .token(try table.requiredString("token"))
        case "jwt_token": return .jwtToken(try table.requiredString("token"))
        default:
            throw ConfigurationError(
                .invalidValue, key: table.keyPath("type"), "'\(type)' is not a scheduler auth type; expected DANGEROUSLY_INSECURE, token or jwt_token"
            )
        }
    }
}
