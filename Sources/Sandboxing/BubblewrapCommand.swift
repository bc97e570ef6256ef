import KilnProtocol

/// The bubblewrap command line of a job (protocol §8.4), with the environment passed by `--setenv` after
/// `--clearenv`: bwrap itself starts with an empty environment, so a job's `LD_PRELOAD` or `PATH` can never
/// affect the privileged bwrap process on the host side.
enum BubblewrapCommand {
    static func arguments(root: String, command: CompileCommand) -> [String] {
        var arguments = [
            "--die-with-parent", "--cap-drop", "ALL",
            "--unshare-user", "--unshare-cgroup", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--chdir", command.cwd, "--clearenv",
        ]
        for variable in command.environment where !variable.name.contains("=") && !variable.name.isEmpty {
            arguments += ["--setenv", variable.name, variable.value]
        }
        arguments += ["--", command.executable]
        arguments += command.arguments
        return arguments
    }
}
