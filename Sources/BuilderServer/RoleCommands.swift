import ArgumentParser
import BuilderService
import Hummingbird
import KilnConfiguration
import KilnMetrics
import KilnProtocol
import Logging
import REAPIService
import SchedulerService
import ServiceLifecycle
import UnixSignals

/// `builder-server [--config FILE]`: runs a build server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run a build server (the default).")
    @OptionGroup var options: RoleOptions

    func run() async throws {
        let logger = Bootstrap.logger(label: "kiln.builder", level: options.logLevel)
        Bootstrap.raiseDescriptorLimit(logger: logger)
        let configuration: BuilderConfiguration
        do {
            configuration = try ConfigurationLoader.loadBuilder(path: options.config)
        } catch {
            throw ValidationError("\(options.config): \(error)")
        }
        let services: [any Service]
        do {
            let exposition = Bootstrap.metrics()
            let built = try await buildBuilderApplication(
                configuration: configuration, logger: logger, metrics: BuilderMetrics(), exposition: exposition
            ) { port in
                logger.info(
                    "build server listening",
                    metadata: ["address": "\(configuration.bindAddress.ipText):\(port)", "public_addr": "\(configuration.publicAddress)"])
            }
            services = [built.application, built.drain]
        } catch {
            logger.error("the build server cannot start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        // Shut down in reverse: the drain finishes the jobs before the application stops serving.
        try await ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
    }
}

/// `builder-server scheduler --config FILE`: runs the scheduler until SIGTERM or SIGINT.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Run the scheduler.")
    @OptionGroup var options: RoleOptions

    func run() async throws {
        let logger = Bootstrap.logger(label: "kiln.scheduler", level: options.logLevel)
        await Bootstrap.runTasksOnEventLoops(logger: logger)
        Bootstrap.raiseDescriptorLimit(logger: logger)
        let configuration: SchedulerConfiguration
        do {
            configuration = try ConfigurationLoader.loadScheduler(path: options.config)
        } catch {
            throw ValidationError("\(options.config): \(error)")
        }
        if case .mozilla = configuration.clientAuth {
            throw ValidationError(
                "\(options.config): client_auth type \"mozilla\" was removed in sccache 0.11 and Kiln cannot serve it; use jwt_validate or proxy_token"
            )
        }
        let exposition = Bootstrap.metrics()
        let (application, jobs, admission) = try await buildScheduler(
            configuration: configuration, logger: logger, metrics: SchedulerMetrics(), exposition: exposition
        ) { port in
            logger.info("scheduler listening", metadata: ["address": "\(configuration.publicAddress.ipText):\(port)"])
        }
        var services: [any Service] = [application]
        if let reapi = configuration.reapi {
            do {
                // Actions run on the same builders as sccache's jobs, placed by this scheduler.
                let admit: @Sendable (String?) async -> REAPIAdmission = { header in
                    switch await admission.check(authorization: header) {
                    case .accepted: .accepted
                    case .refused(let reason): .refused(reason)
                    case .unavailable(let reason): .unavailable(reason)
                    }
                }
                services.append(
                    try REAPIServer(configuration: reapi, logger: logger, admit: admit) { job in
                        do {
                            return try await jobs.run(
                                command: job.command, outputs: job.outputs, inputsTar: job.inputsTar, containerImage: job.containerImage)
                        } catch let error as FarmJobError {
                            let kinds: [FarmJobError.Code: FarmJobFailure.Kind] = [
                                .noCapacity: .noCapacity, .timedOut: .timedOut, .refused: .refused, .unsupportedPlatform: .refused,
                            ]
                            throw FarmJobFailure(kinds[error.code] ?? .builderFailed, message: error.message)
                        }
                    })
            } catch {
                logger.error("the REAPI endpoint cannot start", metadata: ["error": "\(error)"])
                throw ExitCode.failure
            }
        }
        try await ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
    }
}
