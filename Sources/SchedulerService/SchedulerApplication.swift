import Hummingbird
import KilnConfiguration
import KilnMetrics
import KilnProtocol
import Logging
import NIOCore
import ServiceSupport

/// Builds the scheduler: its HTTP application on `public_addr`, ready to run as a service.
/// `onServerRunning` receives the bound port (useful with port 0 in tests). With `exposition`, `/metrics` serves
/// what it renders; `metrics` are the series the scheduler feeds.
public func buildSchedulerApplication(
    configuration: SchedulerConfiguration, logger: Logger, metrics: SchedulerMetrics = SchedulerMetrics(),
    exposition: MetricsExposition? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    try await buildScheduler(
        configuration: configuration, logger: logger, metrics: metrics, exposition: exposition, onServerRunning: onServerRunning
    ).application
}

/// The scheduler's application (as ``buildSchedulerApplication(configuration:logger:metrics:exposition:onServerRunning:)``),
/// the way to run jobs of its own on the farm's builders (REAPI's Execute; `jobPatience` is how long such a job
/// waits for a free slot), and its `client_auth` for other front doors (REAPI).
public func buildScheduler(
    configuration: SchedulerConfiguration, logger: Logger, metrics: SchedulerMetrics = SchedulerMetrics(),
    exposition: MetricsExposition? = nil, jobPatience: Duration = .seconds(600),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> (application: some ApplicationProtocol, jobs: FarmJobs, admission: ClientAdmission) {
    let scheduler = try Scheduler(configuration: configuration, logger: logger, metrics: metrics, clock: ContinuousClock())
    let clientAuth = try await ClientAuthenticator(configuration.clientAuth, logger: logger, clock: ContinuousClock())
    let controller = SchedulerController(
        scheduler: scheduler,
        clientAuth: clientAuth,
        serverAuth: await ServerAuthenticator(configuration.serverAuth, trustedProxies: configuration.trustedProxies),
        logger: logger)
    let router = Router(context: KilnRequestContext.self)
    router.add(middleware: ConnectionHeaderMiddleware())
    controller.register(on: router)
    exposition?.register(on: router) { _ = await scheduler.report() }
    let address = configuration.publicAddress
    let application = Application(
        router: router,
        server: .http1(
            configuration: ConnectionPolicy(
                idleTimeoutSeconds: configuration.connections.idleTimeoutSeconds, maxConnections: configuration.connections.maxConnections
            ).http1()),
        configuration: .init(address: .hostname(address.ipText, port: Int(address.port)), serverName: KilnServerName.value),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
    let insecure = configuration.clientAuth == .dangerouslyInsecure
    return (application, FarmJobs(scheduler: scheduler, patience: jobPatience), ClientAdmission(authenticator: clientAuth, insecure: insecure))
}
