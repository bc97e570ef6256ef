import JobSpawn

/// How this host enforces ``SandboxLimits`` on a bubblewrap job, decided once at start: memory, processes and
/// CPU through the job's cgroup where the server may make one (``CgroupHierarchy``), otherwise through rlimits;
/// the file size rlimit and the job's layer watch (``DiskUsageWatch``) always bound what it writes, and the
/// deadline kills the process group.
struct JobLimitEnforcement: Sendable {
    let limits: SandboxLimits
    let cgroups: CgroupHierarchy?
    /// Root is exempt from RLIMIT_NPROC, so without a pids cgroup jobs run as root could not be bounded (a root
    /// server runs them as their own user, which is not).
    let runsAsRoot: Bool

    private func controls(_ controller: String) -> Bool { cgroups?.parents[controller] != nil }

    /// The rlimits of the job's processes.
    var resourceLimits: [JobProcess.ResourceLimit] {
        var rlimits: [JobProcess.ResourceLimit] = [.core(0)]
        if let disk = limits.diskBytes { rlimits.append(.fileSize(disk)) }
        if let memory = limits.memoryBytes, !controls("memory") { rlimits.append(.addressSpace(memory)) }
        if let processes = limits.maxProcesses, !controls("pids"), !runsAsRoot { rlimits.append(.processes(UInt64(processes))) }
        return rlimits
    }

    /// `command` as the job's first process: it joins the job's cgroup (when there is one) and takes the rlimits
    /// before it execs, so everything the job starts is inside both. A failed join is a sandbox failure, never a
    /// compiler's exit code.
    func process(_ command: [String], cgroup: JobCgroup?) -> JobProcess {
        JobProcess(
            executable: command[0], arguments: Array(command.dropFirst()), cgroupProcsFiles: cgroup?.procsFiles ?? [], limits: resourceLimits)
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
                        + by(
                            "pids",
                            fallback: runsAsRoot
                                ? "nothing (root is exempt from RLIMIT_NPROC)" : "RLIMIT_NPROC of the jobs' user (shared by the jobs running at once)"
                        )
                } ?? "unlimited"))
        parts.append("cpus " + (limits.cpus.map { "\($0) by " + by("cpu", fallback: nil) } ?? "unlimited"))
        parts.append("disk " + (limits.diskBytes.map { "\($0) bytes by a watch of the job's layer and RLIMIT_FSIZE" } ?? "unlimited"))
        parts.append(limits.outputsReport)
        return "job limits: " + parts.joined(separator: "; ")
    }
}

extension JobLimitEnforcement {
    /// Finds the cgroups this server may use, and removes job cgroups an earlier run left.
    init(limits: SandboxLimits, runsAsRoot: Bool) {
        let cgroups = CgroupHierarchy.detect()
        if let cgroups { JobCgroup.removeStale(in: cgroups) }
        self.init(limits: limits, cgroups: cgroups, runsAsRoot: runsAsRoot)
    }
}
