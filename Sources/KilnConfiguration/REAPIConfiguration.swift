import KilnProtocol

/// Kiln's `[reapi]` table on the scheduler: the Remote Execution API v2 endpoint that Bazel and other REAPI
/// clients use (README, "Bazel and other REAPI clients").
///
/// ```toml
/// [reapi]
/// listen = "127.0.0.1:8980"      # gRPC, plaintext unless tls_cert_file and tls_key_file are set; required
/// dir = "<state_dir>/reapi"      # the content-addressable storage and the action cache; required without state_dir
/// cas_size = "10G"               # least recently used blobs go first
/// action_cache_size = "1G"
/// client_updates = true          # false: clients cannot write action results (only the farm's executions do)
/// tls_cert_file = "/etc/kiln/reapi.pem"   # PEM certificate chain, with tls_key_file
/// tls_key_file = "/etc/kiln/reapi.key"
/// ```
public struct REAPIConfiguration: Sendable, Hashable {
    public var listen: ServerID
    public var directory: String
    public var casSizeBytes: UInt64 = 10 << 30
    public var actionCacheSizeBytes: UInt64 = 1 << 30
    /// Whether clients may write action results (`--remote_upload_local_results`): a farm shared by people who do
    /// not trust each other's machines turns it off.
    public var clientUpdates = true
    /// How long a running action's operation waits for a client to follow it again (WaitExecution) after the last
    /// one's stream closed, before its job is cancelled.
    public var abandonedOperationGrace: Duration = .seconds(10)
    /// The TLS identity; nil: plaintext (HTTP/2 without TLS, `grpc://`).
    public var tls: TLSFiles?

    /// PEM files of a TLS identity: the certificate chain and its private key.
    public struct TLSFiles: Sendable, Hashable {
        public var certificateFile: String
        public var keyFile: String

        public init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    public init(listen: ServerID, directory: String) {
        self.listen = listen
        self.directory = directory
    }

    init(reading table: inout TOMLTableReader, stateDirectory: String?) throws {
        listen = try table.requiredAddress("listen")
        guard let directory = try table.string("dir") ?? stateDirectory.map({ $0 + "/reapi" }) else {
            throw ConfigurationError(
                .missingKey, key: table.keyPath("dir"), "where the REAPI blobs and action results live; set dir here or state_dir at the top")
        }
        self.directory = directory
        casSizeBytes = try Self.size(&table, "cas_size") ?? casSizeBytes
        actionCacheSizeBytes = try Self.size(&table, "action_cache_size") ?? actionCacheSizeBytes
        clientUpdates = try table.bool("client_updates") ?? clientUpdates
        switch (try table.string("tls_cert_file"), try table.string("tls_key_file")) {
        case (nil, nil): tls = nil
        case (let certificate?, let key?): tls = TLSFiles(certificateFile: certificate, keyFile: key)
        default:
            throw ConfigurationError(.invalidValue, key: table.keyPath("tls_cert_file"), "set both tls_cert_file and tls_key_file, or neither")
        }
    }

    private static func size(_ table: inout TOMLTableReader, _ key: String) throws -> UInt64? {
        guard let size = try table.byteCount(key) else { return nil }
        guard size >= 1 << 20 else { throw ConfigurationError(.invalidValue, key: table.keyPath(key), "must be at least 1M") }
        return size
    }
}
