import ArgumentParser

/// `builder-server`: Kiln's one executable. `builder-server --config FILE` runs a build server,
/// `builder-server scheduler --config FILE` the scheduler; `check-config` and `auth` help operators.
@main
struct BuilderServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "builder-server",
        abstract: "Kiln: a distributed build farm that speaks sccache's distributed-compilation protocol.",
        subcommands: [ServeCommand.self, SchedulerCommand.self, CheckConfigCommand.self, AuthCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// Options every long-running role takes.
struct RoleOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (TOML; sccache-dist's files load unchanged).")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"
}
