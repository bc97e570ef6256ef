import KilnProtocol

/// The bubblewrap command line of a job (protocol §8.4), with the environment passed by `--setenv` after
/// `--clearenv`: bwrap itself starts with an empty environment, so a job's `LD_PRELOAD` or `PATH` can never
/// affect the privileged bwrap process on the host side.
enum BubblewrapCommand {
    static func arguments(root: String, command: CompileCommand) -> [String] {
        var arguments = namespacesAndMounts(root: root) + ["--chdir", command.cwd, "--clearenv"]
        for variable in command.environment where passes(variable) {
            arguments += ["--setenv", variable.name, variable.value]
        }
        arguments += ["--", command.executable]
        arguments += command.arguments
        return arguments
    }

    /// The same sandbox for a command known before the job's (the stub of a sandbox made ahead, which takes the
    /// job's cwd, environment and command itself).
    static func arguments(root: String, then command: [String]) -> [String] {
        namespacesAndMounts(root: root) + ["--clearenv", "--"] + command
    }

    /// The job's environment as bubblewrap's `--setenv`s would leave it (a later duplicate wins).
    static func environment(of command: CompileCommand) -> [String: String] {
        var environment: [String: String] = [:]
        for variable in command.environment where passes(variable) { environment[variable.name] = variable.value }
        return environment
    }

    private static func passes(_ variable: EnvironmentVariable) -> Bool { !variable.name.contains("=") && !variable.name.isEmpty }

    private static func namespacesAndMounts(root: String) -> [String] {
        [
            "--die-with-parent", "--cap-drop", "ALL",
            "--unshare-user", "--unshare-cgroup", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--bind", root, "/", "--proc", "/proc", "--dev", "/dev",
        ]
    }
}
