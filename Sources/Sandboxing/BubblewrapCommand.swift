import JobSpawn
import KilnProtocol

/// The bubblewrap command line of a job (protocol §8.4), with the environment passed by `--setenv` after
/// `--clearenv`: bwrap itself starts with an empty environment, so a job's `LD_PRELOAD` or `PATH` can never
/// affect the privileged bwrap process on the host side.
///
/// The job cannot make namespaces of its own (`--disable-userns`, and the ``SyscallFilter`` read from descriptor
/// ``JobProcess/filterDescriptor`` when `filtered`); `/dev` is read-only and its `/dev/shm` is the root's
/// `dev/shm`, a directory of the job's own layer, so what a job keeps there counts toward its disk limit.
/// The root must hold the mount points (``SandboxRoot/makeMountPoints(in:user:)``): an unprivileged bubblewrap
/// cannot create them.
enum BubblewrapCommand {
    static func arguments(root: String, filtered: Bool, hostPaths: [String] = [], command: CompileCommand) -> [String] {
        var arguments = namespacesAndMounts(root: root, filtered: filtered, hostPaths: hostPaths) + ["--chdir", command.cwd, "--clearenv"]
        for variable in command.passableEnvironment {
            arguments += ["--setenv", variable.name, variable.value]
        }
        arguments += ["--", command.executable]
        arguments += command.arguments
        return arguments
    }

    /// The same sandbox for a command known before the job's (the stub of a sandbox made ahead, which takes the
    /// job's cwd, environment and command itself).
    static func arguments(root: String, filtered: Bool, hostPaths: [String] = [], then command: [String]) -> [String] {
        namespacesAndMounts(root: root, filtered: filtered, hostPaths: hostPaths) + ["--clearenv", "--"] + command
    }

    /// `hostPaths`: directories of the host bound read-only at the same place (REAPI actions' `/usr`).
    static func namespacesAndMounts(root: String, filtered: Bool, hostPaths: [String] = []) -> [String] {
        [
            "--die-with-parent", "--cap-drop", "ALL",
            "--unshare-user", "--disable-userns", "--unshare-cgroup", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--bind", root, "/",
        ] + hostPaths.flatMap { ["--ro-bind", $0, $0] }
            + ["--proc", "/proc", "--dev", "/dev", "--bind", root + "/dev/shm", "/dev/shm", "--remount-ro", "/dev"]
            + (filtered ? ["--seccomp", "\(JobProcess.filterDescriptor)"] : [])
    }
}
