import BuilderCore
import Foundation
import Hummingbird
import HummingbirdTLS
import KilnConfiguration
import KilnProtocol
import Logging
import Sandboxing
import SchedulerCore
import ServiceSupport
import ToolchainStore

/// Builds a build server from its configuration: identity, toolchain cache, sandbox (prepared: build_dir wiped,
/// stale mounts detached), the HTTPS application on `bind_address`, and the heartbeat service.
/// `onServerRunning` receives the bound port.
public func buildBuilderApplication(
    configuration: BuilderConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let identity: BuilderIdentity
    do {
        identity = try BuilderIdentity(serverID: configuration.publicAddress)
    } catch {
        throw BuilderError(.identity, "cannot make the server certificate", cause: "\(error)")
    }
    let link = try SchedulerLink(
        schedulerURL: configuration.schedulerURL, auth: configuration.schedulerAuth, serverID: configuration.publicAddress)
    let sandbox = try makeSandbox(configuration)
    try await sandbox.prepare()
    let spool = configuration.cacheDirectory + "/inputs"
    try? FileManager.default.removeItem(atPath: spool)
    try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
    let server = await BuildServer(
        identity: identity, link: link,
        archives: try ToolchainArchiveCache(cacheDirectory: configuration.cacheDirectory, capacity: configuration.toolchainCacheSize),
        sandbox: sandbox,
        slots: configuration.maxJobs ?? SchedulingPolicy.jobCap(cores: ProcessInfo.processInfo.activeProcessorCount),
        spoolDirectory: spool, logger: logger)
    let router = Router(context: KilnRequestContext.self)
    BuilderController(server: server).register(on: router)
    let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
    let bind = configuration.bindAddress
    return Application(
        router: router, server: try .tls(.http1(), tlsConfiguration: identity.tlsConfiguration()),
        configuration: .init(address: .hostname(bind.ipText, port: Int(bind.port)), serverName: nil),
        services: [HeartbeatService(server: server, schedule: .init(), listening: listening), SandboxShutdownService(sandbox: sandbox)],
        onServerRunning: { channel in
            listeningContinuation.yield()
            await onServerRunning(channel.localAddress?.port ?? 0)
        },
        logger: logger)
}

private func makeSandbox(_ configuration: BuilderConfiguration) throws -> any BuildSandbox {
    switch configuration.sandbox {
    case .overlay(let buildDirectory, let bubblewrapPath):
        return OverlaySandbox(buildDirectory: buildDirectory, bubblewrapPath: bubblewrapPath, toolchainBudget: configuration.toolchainCacheSize)
    case .docker(let docker):
        var settings = DockerSandboxSettings(instance: "\(configuration.publicAddress)")
        settings.socketPath = docker.socketPath
        settings.baseImage = docker.baseImage
        (settings.uid, settings.gid) = (docker.uid, docker.gid)
        settings.memoryBytes = docker.memoryBytes
        settings.pidsLimit = docker.pidsLimit
        settings.cpus = docker.cpus
        settings.idleContainersPerToolchain = docker.idleContainersPerToolchain
        return DockerSandbox(settings: settings, toolchainBudget: configuration.toolchainCacheSize)
    case .pot(let pot):
        var settings = PotSandboxSettings()
        (settings.fsRoot, settings.cloneFrom, settings.cloneArguments) = (pot.fsRoot, pot.cloneFrom, pot.cloneArguments)
        (settings.potCommand, settings.jexecCommand) = (pot.potCommand, pot.jexecCommand)
        settings.idleContainersPerToolchain = pot.idleContainersPerToolchain
        return PotSandbox(settings: settings, toolchainBudget: configuration.toolchainCacheSize)
    }
}
