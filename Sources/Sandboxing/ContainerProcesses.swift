import Foundation

/// What a container's job left running, seen from the host (root only): processes in the pid namespace of the
/// container's first process that do not run as root. Jobs never run as root (nor can they become root: no new
/// privileges), and the pool's own processes (init, the idle command) always do. Asking the host saves an exec
/// (the engine starts a process for each, 45 ms here) when, as usual, the job left nothing.
enum ContainerProcesses {
    /// True when a non-root process shares the pid namespace of `initProcess`; nil when the host cannot tell (not
    /// root, or `initProcess` is gone).
    static func jobProcessesLeft(pidNamespaceOf initProcess: Int32) -> Bool? {
        guard geteuid() == 0, let namespace = pidNamespace(of: "\(initProcess)") else { return nil }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        return entries.contains { $0.first?.isNumber == true && pidNamespace(of: $0) == namespace && !runsAsRoot($0) }
    }

    private static func pidNamespace(of pid: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid")
    }

    /// The real uid from `status` (the owner of /proc/<pid> is root for an undumpable process of any user). A
    /// process that is gone meanwhile counts as a job's: the reset then kills through the engine, to be sure.
    private static func runsAsRoot(_ pid: String) -> Bool {
        guard let status = KernelFile.text("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") })
        else { return false }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first == "0"
    }
}
