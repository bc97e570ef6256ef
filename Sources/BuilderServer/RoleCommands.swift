import ArgumentParser
import Logging

/// `builder-server [--config FILE]`: runs a build server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run a build server (the default).")
    @OptionGroup var options: RoleOptions

    func run() async throws {
        let logger = Bootstrap.logger(label: "kiln.builder", level: options.logLevel)
        logger.error("the build server is not part of this build yet")
        throw ExitCode.failure
    }
}

/// `builder-server scheduler --config FILE`: runs the scheduler.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Run the scheduler.")
    @OptionGroup var options: RoleOptions

    func run() async throws {
        let logger = Bootstrap.logger(label: "kiln.scheduler", level: options.logLevel)
        logger.error("the scheduler is not part of this build yet")
        throw ExitCode.failure
    }
}
