import Foundation

/// How this host enforces ``SandboxLimits`` on a bubblewrap job, decided once at start: memory, processes and
/// CPU through the job's cgroup where the server may make one (``CgroupHierarchy``), otherwise through rlimits
/// (`prlimit`); the file size rlimit and the job's layer watch (``DiskUsageWatch``) always bound what it writes,
/// and the deadline kills the process group.
struct JobLimitEnforcement: Sendable {
    let limits: SandboxLimits
    let cgroups: CgroupHierarchy?
    let prlimitPath: String
    /// Root is exempt from RLIMIT_NPROC, so without a pids cgroup a root server cannot bound processes.
    let runsAsRoot: Bool

    /// Runs a shell that writes its own pid into each `cgroup.procs` given before `--`, then execs the rest; the
    /// job's first process is in the cgroup before anything it starts. A failure kills the shell, so that it
    /// reads as a sandbox failure rather than as a compiler's exit code.
    static let joinScript = #"while [ "$1" != -- ]; do echo $$ > "$1" || kill -KILL $$; shift; done; shift; exec "$@""#

    private func controls(_ controller: String) -> Bool { cgroups?.parents[controller] != nil }

    /// The rlimits for the job's processes, as `prlimit` options.
    var rlimitOptions: [String] {
        var options = ["--core=0"]
        if let disk = limits.diskBytes { options.append("--fsize=\(disk)") }
        if let memory = limits.memoryBytes, !controls("memory") { options.append("--as=\(memory)") }
        if let processes = limits.maxProcesses, !controls("pids"), !runsAsRoot { options.append("--nproc=\(processes)") }
        return options
    }

    /// The command that runs `command` inside the job's cgroup (when there is one) and rlimits.
    func launch(_ command: [String], cgroup: JobCgroup?) -> [String] {
        var arguments: [String] = []
        if let cgroup, !cgroup.procsFiles.isEmpty {
            arguments += ["/bin/sh", "-c", Self.joinScript, "kiln-join"] + cgroup.procsFiles + ["--"]
        }
        return arguments + [prlimitPath] + rlimitOptions + ["--"] + command
    }

    /// One line for the start-up log: each limit and what enforces it here.
    var report: String {
        let cgroup = cgroups.map { "cgroup \($0.version.rawValue)" }
        func by(_ controller: String, fallback: String?) -> String {
            controls(controller) ? (cgroup ?? "") + " \(controller)" : (fallback ?? "not enforced")
        }
        var parts = ["timeout \(limits.timeout) (process group and cgroup kill)"]
        parts.append(
            "memory " + (limits.memoryBytes.map { "\($0) bytes by " + by("memory", fallback: "RLIMIT_AS per process") } ?? "unlimited"))
        parts.append(
            "processes "
                + (limits.maxProcesses.map {
                    "\($0) by "
                        + by("pids", fallback: runsAsRoot ? "nothing (root is exempt from RLIMIT_NPROC)" : "RLIMIT_NPROC of the server's user")
                } ?? "unlimited"))
        parts.append("cpus " + (limits.cpus.map { "\($0) by " + by("cpu", fallback: nil) } ?? "unlimited"))
        parts.append("disk " + (limits.diskBytes.map { "\($0) bytes by a watch of the job's layer and RLIMIT_FSIZE" } ?? "unlimited"))
        parts.append(limits.outputsReport)
        return "job limits: " + parts.joined(separator: "; ")
    }
}

extension JobLimitEnforcement {
    /// Finds prlimit and the cgroups this server may use, and removes job cgroups an earlier run left.
    init(limits: SandboxLimits, runsAsRoot: Bool) throws {
        guard let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw SandboxError(.unavailable, "prlimit is missing; install util-linux")
        }
        let cgroups = CgroupHierarchy.detect()
        if let cgroups { JobCgroup.removeStale(in: cgroups) }
        self.init(limits: limits, cgroups: cgroups, prlimitPath: prlimit, runsAsRoot: runsAsRoot)
    }
}
