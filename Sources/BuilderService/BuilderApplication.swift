import BuilderCore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import JobSpawn
import KilnConfiguration
import KilnMetrics
import KilnProtocol
import Logging
import NIOSSL
import ResultCache
import Sandboxing
import SchedulerCore
import ServiceSupport
import ToolchainStore

/// Builds a build server from its configuration: identity, toolchain cache, sandbox (prepared: build_dir wiped,
/// stale mounts detached), the HTTPS application on `bind_address`, and the heartbeat service.
/// `onServerRunning` receives the bound port. Run the drain service in a service group after the application
/// (so that it is shut down first): on SIGTERM it finishes the jobs before the server stops. With `metrics_addr`
/// set, `exposition` is served there at `/metrics` by a plain-HTTP listener that runs with the application.
public func buildBuilderApplication(
    configuration: BuilderConfiguration, logger: Logger, metrics: BuilderMetrics = BuilderMetrics(), exposition: MetricsExposition? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> (application: some ApplicationProtocol, drain: DrainService<ContinuousClock>) {
    let identity: BuilderIdentity
    do {
        identity = try BuilderIdentity(serverID: configuration.publicAddress)
    } catch {
        throw BuilderError(.identity, "cannot make the server certificate", underlying: error)
    }
    let link = try SchedulerLink(
        schedulerURL: configuration.schedulerURL, auth: configuration.schedulerAuth, serverID: configuration.publicAddress)
    let sandbox = MeasuredSandbox(base: try makeSandbox(configuration), metrics: metrics)
    try await sandbox.prepare()
    logger.info("\(sandbox.enforcementReport)")
    let spool = configuration.cacheDirectory + "/inputs"
    try? FileManager.default.removeItem(atPath: spool)
    try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
    let server = await BuildServer(
        identity: identity, link: link,
        archives: try ToolchainArchiveCache(cacheDirectory: configuration.cacheDirectory, capacity: configuration.toolchainCacheSize),
        sandbox: sandbox,
        slots: jobSlots(configuration),
        spoolDirectory: spool,
        environment: JobEnvironmentPolicy(allowlist: configuration.jobEnvironment.allowlist, path: configuration.jobEnvironment.path),
        results: try makeResultCache(configuration, metrics: metrics, logger: logger),
        streamLimit: Int(clamping: configuration.jobLimits.streamBytes),
        metrics: metrics, logger: logger)
    let router = builderRouter(for: server)
    let metricsListener = configuration.metricsAddress.map { address in
        makeMetricsListener(address: address, server: server, exposition: exposition, connections: configuration.connections, logger: logger)
    }
    let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
    let bind = configuration.bindAddress
    let drainDeadline = Duration.seconds(configuration.drainTimeoutSeconds ?? configuration.jobLimits.timeoutSeconds + 30)
    let application = Application(
        router: router,
        server: try httpsServer(tlsConfiguration: identity.tlsConfiguration(), connections: configuration.connections),
        configuration: .init(address: .hostname(bind.ipText, port: Int(bind.port)), serverName: KilnServerName.value),
        services: [
            HeartbeatService(server: server, schedule: .init(), clock: ContinuousClock(), listening: listening),
            SandboxShutdownService(sandbox: sandbox, results: server.results),
        ]
            + (server.results.map { [ResultCacheSweepService(store: $0.store, logger: logger)] } ?? [])
            + (metricsListener.map { [$0] } ?? []),
        onServerRunning: { channel in
            listeningContinuation.yield()
            await onServerRunning(channel.localAddress?.port ?? 0)
        },
        logger: logger)
    return (application, DrainService(server: server, deadline: drainDeadline, clock: ContinuousClock()))
}

/// The build server's endpoints: the three of the protocol and the toolchain inventory.
func builderRouter(for server: BuildServer) -> Router<KilnRequestContext> {
    let router = Router(context: KilnRequestContext.self)
    router.add(middleware: ConnectionHeaderMiddleware())
    BuilderController(server: server).register(on: router)
    server.registerInventory(on: router)
    return router
}

/// HTTPS/1.1 with TCP quick ACKs (see ``QuickAckChannel``) and hang-up detection.
private func httpsServer(tlsConfiguration: TLSConfiguration, connections: ConnectionLimitsConfiguration) throws -> HTTPServerBuilder {
    let tls = TLSChannelConfiguration(tlsConfiguration: tlsConfiguration)
    let policy = ConnectionPolicy(idleTimeoutSeconds: connections.idleTimeoutSeconds, maxConnections: connections.maxConnections)
    return HTTPServerBuilder { responder in
        QuickAckChannel(
            try TLSChannel(HTTP1Channel(responder: responder, configuration: policy.http1(handlers: [CloseOnHangUp()])), configuration: tls))
    }
}

/// The plain-HTTP listener on `metrics_addr`: `/metrics` and the toolchain inventory.
private func makeMetricsListener(
    address: ServerID, server: BuildServer, exposition: MetricsExposition?, connections: ConnectionLimitsConfiguration, logger: Logger
) -> some ApplicationProtocol {
    let router = Router(context: KilnRequestContext.self)
    router.add(middleware: ConnectionHeaderMiddleware())
    exposition?.register(on: router) { await server.refreshGauges() }
    server.registerInventory(on: router)
    return Application(
        router: router,
        server: .http1(
            configuration: ConnectionPolicy(idleTimeoutSeconds: connections.idleTimeoutSeconds, maxConnections: connections.maxConnections).http1()),
        configuration: .init(address: .hostname(address.ipText, port: Int(address.port)), serverName: nil),
        onServerRunning: { channel in logger.info("metrics listening", metadata: ["address": "\(address.ipText):\(channel.localAddress?.port ?? 0)"])
        },
        logger: logger)
}

/// Jobs run at once: `max_jobs`, or as many as the scheduler's policy gives this machine's cores.
private func jobSlots(_ configuration: BuilderConfiguration) -> Int {
    configuration.maxJobs ?? slotsForCores
}

/// The slots the scheduler's policy gives this machine's cores.
private var slotsForCores: Int { SchedulingPolicy.jobCap(cores: ProcessInfo.processInfo.activeProcessorCount) }

/// Sandboxes made ready before their jobs: one per slot, up to the slots the cores alone would give. Past them,
/// jobs queue for CPU and a sandbox's set-up hides behind other compiles; and every ready sandbox is one more
/// overlay mount that each bubblewrap start reads in /proc/self/mountinfo (measured here: 72 more mounts take a
/// bwrap start from 5.5 to 11 ms).
private func sandboxesAhead(_ configuration: BuilderConfiguration) -> Int {
    min(jobSlots(configuration), slotsForCores)
}

private func makeSandbox(_ configuration: BuilderConfiguration) throws -> any BuildSandbox {
    let limits = sandboxLimits(configuration.jobLimits)
    switch configuration.sandbox {
    case .overlay(let buildDirectory, let bubblewrapPath, let rootless, let runAs, let reapiRoot, let jobsDirectory):
        return OverlaySandbox(
            buildDirectory: buildDirectory, bubblewrapPath: bubblewrapPath, toolchainBudget: configuration.toolchainCacheSize, limits: limits,
            rootless: rootless, preparedLaunches: sandboxesAhead(configuration),
            jobUser: runAs.map { JobProcess.User(uid: UInt32($0.uid), gid: UInt32($0.gid)) } ?? OverlaySandbox.defaultJobUser,
            actionHostPaths: reapiRoot, jobsBase: jobsDirectory)
    case .docker(let docker):
        var settings = DockerSandboxSettings(instance: "\(configuration.publicAddress)")
        settings.socketPath = docker.socketPath
        settings.baseImage = docker.baseImage
        (settings.uid, settings.gid) = (docker.uid, docker.gid)
        settings.memoryBytes = docker.memoryBytes ?? Int64(clamping: limits.memoryBytes ?? 0)
        settings.pidsLimit = docker.pidsLimit ?? Int64(limits.maxProcesses ?? 0)
        settings.cpus = docker.cpus ?? limits.cpus ?? 0
        settings.maxFileBytes = Int64(clamping: limits.diskBytes ?? 0)
        settings.idleContainersPerToolchain = docker.idleContainersPerToolchain
        settings.spareContainersPerToolchain = docker.spareContainersPerToolchain
        return DockerSandbox(settings: settings, toolchainBudget: configuration.toolchainCacheSize, limits: limits)
    case .pot(let pot):
        var settings = PotSandboxSettings()
        (settings.fsRoot, settings.cloneFrom, settings.cloneArguments) = (pot.fsRoot, pot.cloneFrom, pot.cloneArguments)
        (settings.rctlCommand, settings.jailUser) = (pot.rctlCommand, pot.jailUser)
        (settings.potCommand, settings.jexecCommand) = (pot.potCommand, pot.jexecCommand)
        settings.idleContainersPerToolchain = pot.idleContainersPerToolchain
        return PotSandbox(settings: settings, toolchainBudget: configuration.toolchainCacheSize, limits: limits)
    }
}

private func sandboxLimits(_ configured: JobLimitsConfiguration) -> SandboxLimits {
    var limits = SandboxLimits()
    limits.timeout = .seconds(configured.timeoutSeconds)
    limits.memoryBytes = configured.memoryBytes
    limits.maxProcesses = configured.processes
    limits.cpus = configured.cpus
    limits.diskBytes = configured.diskBytes
    limits.maxOutputFileBytes = Int(clamping: configured.outputFileBytes)
    limits.maxOutputBytes = Int(clamping: configured.outputTotalBytes)
    limits.maxStreamBytes = Int(clamping: configured.streamBytes)
    return limits
}
