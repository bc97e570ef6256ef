/// Kiln's `[result_cache]` table: the builder's cache of finished jobs, keyed by everything that reaches the
/// compiler (README, "Result cache"). All keys are optional.
///
/// ```toml
/// [result_cache]
/// enabled = true             # false: every job runs, and identical concurrent jobs are not coalesced
/// dir = "<cache_dir>/results"
/// size = "2G"                # least recently used entries go first
/// ttl = 604800               # seconds an entry of a successful compile is served (7 days)
/// failure_ttl = 600          # seconds for a compile that exited non-zero; 0 never stores failures
/// max_entry_size = "256M"    # results larger than this are served once and not stored
/// read_only = false          # true: serve hits from dir, never write or remove there
/// shared_url = "redis://10.0.0.5:6379/0"   # a farm-wide tier and coalescing in Redis (README, "Many builders")
/// shared_password = "…"      # AUTH password (else the URL's, if any)
/// shared_timeout_ms = 500    # deadline of Redis's connect and of each read or write
/// shared_lease = 10          # seconds before a dead builder's claim on a job lapses
/// ```
public struct ResultCacheConfiguration: Sendable, Hashable {
    public var enabled = true
    /// nil: `<cache_dir>/results`.
    public var directory: String?
    public var sizeBytes: UInt64 = 2 << 30
    public var ttlSeconds = 7 * 24 * 3600
    public var failureTTLSeconds = 600
    public var maxEntryBytes: UInt64 = 256 << 20
    public var readOnly = false
    /// The farm-wide tier; nil: this builder's disk only.
    public var shared: SharedCacheAddress?
    public var sharedTimeoutMilliseconds = 500
    public var sharedLeaseSeconds = 10

    public init() {}

    init(reading table: inout TOMLTableReader) throws {
        enabled = try table.bool("enabled") ?? enabled
        directory = try table.string("dir")
        if let size = try table.byteCount("size") {
            guard size > 0 else {
                throw ConfigurationError(.invalidValue, key: table.keyPath("size"), "must be above 0; set enabled = false to turn the cache off")
            }
            sizeBytes = size
        }
        if let ttl = try table.integer("ttl") {
            guard ttl > 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("ttl"), "must be at least 1 second") }
            ttlSeconds = ttl
        }
        if let ttl = try table.integer("failure_ttl") {
            guard ttl >= 0 else {
                throw ConfigurationError(.invalidValue, key: table.keyPath("failure_ttl"), "must be 0 (failures not stored) or more")
            }
            failureTTLSeconds = ttl
        }
        if let size = try table.byteCount("max_entry_size") {
            guard size > 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("max_entry_size"), "must be above 0") }
            maxEntryBytes = size
        }
        readOnly = try table.bool("read_only") ?? readOnly
        if let url = try table.string("shared_url") {
            guard var address = SharedCacheAddress(url: url) else {
                throw ConfigurationError(
                    .invalidValue, key: table.keyPath("shared_url"), "expected redis://[:PASSWORD@]HOST[:PORT][/DB], got '\(url)'")
            }
            address.password = try table.string("shared_password") ?? address.password
            shared = address
        } else if table.has("shared_password") {
            throw ConfigurationError(.invalidValue, key: table.keyPath("shared_password"), "is set without shared_url")
        }
        if let timeout = try table.integer("shared_timeout_ms") {
            guard (1...60_000).contains(timeout) else {
                throw ConfigurationError(.invalidValue, key: table.keyPath("shared_timeout_ms"), "must be 1 to 60000 milliseconds")
            }
            sharedTimeoutMilliseconds = timeout
        }
        if let lease = try table.integer("shared_lease") {
            guard (1...3600).contains(lease) else {
                throw ConfigurationError(.invalidValue, key: table.keyPath("shared_lease"), "must be 1 to 3600 seconds")
            }
            sharedLeaseSeconds = lease
        }
    }
}
