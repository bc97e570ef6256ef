import ContentStore
import GRPCCore
import GRPCNIOTransportHTTP2
import KilnConfiguration
import KilnProtocol
import Logging
import ServiceLifecycle

/// The scheduler's Remote Execution API endpoint (`[reapi]`): gRPC over HTTP/2, plaintext or TLS, serving the
/// capabilities, the content-addressable storage, ByteStream and the action cache from disk under `dir`.
public struct REAPIServer: Service {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let logger: Logger

    /// Opens the stores (taking in what an earlier run left) and binds nothing yet: ``run()`` listens. With
    /// `runJob`, Execute runs actions on the farm; without, the endpoint is a cache only. `admit` judges every
    /// call's `authorization` metadata (nil: every call is admitted).
    public init(
        configuration: REAPIConfiguration, logger: Logger, admit: (@Sendable (String?) async -> REAPIAdmission)? = nil,
        runJob: FarmJobRunner? = nil
    ) throws {
        let cas = try DiskBlobStore(directory: configuration.directory + "/cas", capacity: configuration.casSizeBytes)
        let actionCache = try DiskBlobStore(
            directory: configuration.directory + "/ac", capacity: configuration.actionCacheSizeBytes, verifiesContent: false)
        let security: HTTP2ServerTransport.Posix.TransportSecurity =
            configuration.tls.map {
                .tls(certificateChain: [.file(path: $0.certificateFile, format: .pem)], privateKey: .file(path: $0.keyFile, format: .pem))
            } ?? .plaintext
        let address = configuration.listen
        let transport = HTTP2ServerTransport.Posix(
            address: address.isIPv6 ? .ipv6(host: address.ipText, port: Int(address.port)) : .ipv4(host: address.ipText, port: Int(address.port)),
            transportSecurity: security,
            config: .defaults { $0.rpc.maxRequestPayloadSize = REAPILimits.maxRequestBytes })
        var services: [any RegistrableRPCService] = [
            CapabilitiesService(clientUpdates: configuration.clientUpdates, executionEnabled: runJob != nil),
            ContentStorageService(cas: cas),
            ByteStreamService(cas: cas),
            ActionCacheService(actionCache: actionCache, cas: cas, clientUpdates: configuration.clientUpdates),
        ]
        if let runJob {
            services.append(
                ExecutionService(
                    cas: cas, actionCache: actionCache, runJob: runJob,
                    operations: OperationBoard(grace: configuration.abandonedOperationGrace), logger: logger))
        }
        server = GRPCServer(transport: transport, services: services, interceptors: admit.map { [BearerAuthInterceptor(admit: $0)] } ?? [])
        self.logger = logger
    }

    /// The port it listens on once it does (useful with port 0); nil when it could not listen.
    public var listeningPort: Int? {
        get async {
            guard let address = try? await server.listeningAddress else { return nil }
            return address.ipv4?.port ?? address.ipv6?.port
        }
    }

    /// Serves until a graceful shutdown, which lets the calls under way finish; logs the address once it listens.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                if let address = try? await server.listeningAddress {
                    logger.info("REAPI endpoint listening", metadata: ["address": "\(address)"])
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
