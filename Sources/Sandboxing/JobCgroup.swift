import Foundation
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// One job's cgroup (a directory per v1 hierarchy, one in v2) with the job's limits written into it. The job's
/// first process joins it before it execs anything, so every descendant is counted; ``destroy()`` kills whatever
/// is still in it (a daemon the compile left behind, a fork bomb) and removes it.
struct JobCgroup: Sendable {
    let directories: [String]
    let version: CgroupHierarchy.Version
    /// The directories whose event counters say which limit the job hit: in v1 each controller's own (a v1
    /// directory has no other controller's files), in v2 the one directory.
    private let memoryEvents: String?
    private let pidsEvents: String?

    /// The `cgroup.procs` files the job's first process writes its pid to.
    var procsFiles: [String] { directories.map { $0 + "/cgroup.procs" } }

    private init(directories: [String], version: CgroupHierarchy.Version) {
        self.directories = directories
        self.version = version
        (memoryEvents, pidsEvents) = (nil, nil)
    }

    init(name: String, in hierarchy: CgroupHierarchy, limits: SandboxLimits) throws {
        version = hierarchy.version
        var directories: [String: String] = [:]
        for (controller, parent) in Self.used(hierarchy, limits) {
            let directory = parent + "/" + name
            if !directories.values.contains(directory) {
                guard CgroupHierarchy.makeDirectory(directory) else {
                    throw SandboxError(.setup, "cannot create the job cgroup '\(directory)'", cause: SandboxPaths.errorText())
                }
            }
            directories[controller] = directory
        }
        self.directories = Array(Set(directories.values)).sorted()
        if version == .v2 {
            memoryEvents = self.directories.first.map { $0 + "/memory.events" }
            pidsEvents = self.directories.first.map { $0 + "/pids.events" }
        } else {
            memoryEvents = directories["memory"].map { $0 + "/memory.oom_control" }
            pidsEvents = directories["pids"].map { $0 + "/pids.events" }
        }
        do {
            try Self.apply(limits, to: hierarchy, directory: { hierarchy.parents[$0].map { $0 + "/" + name } })
        } catch {
            destroy()
            throw error
        }
    }

    /// The hierarchies a job joins: those of the limits that are set (a v1 memory cgroup is costly to make and
    /// remove, and joining each one is a move of its own), or one to find and kill the job's processes by.
    static func used(_ hierarchy: CgroupHierarchy, _ limits: SandboxLimits) -> [(String, String)] {
        let limited: [String: Bool] = ["memory": limits.memoryBytes != nil, "pids": limits.maxProcesses != nil, "cpu": limits.cpus != nil]
        let used = hierarchy.parents.filter { limited[$0.key] == true }.sorted { $0.key < $1.key }
        if !used.isEmpty { return used }
        return hierarchy.parents.sorted { ($0.key == "pids" ? 0 : 1, $0.key) < ($1.key == "pids" ? 0 : 1, $1.key) }.prefix(1).map { $0 }
    }

    private static func apply(_ limits: SandboxLimits, to hierarchy: CgroupHierarchy, directory: (String) -> String?) throws {
        let v2 = hierarchy.version == .v2
        var settings: [(String, String, String)] = []
        if let memory = limits.memoryBytes, let path = directory("memory") {
            settings.append((path, v2 ? "memory.max" : "memory.limit_in_bytes", "\(memory)"))
            // Swap counts too where the kernel accounts it, so a memory bomb cannot move to swap.
            let swap = v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes"
            if FileManager.default.fileExists(atPath: path + "/" + swap) { settings.append((path, swap, v2 ? "0" : "\(memory)")) }
        }
        if let processes = limits.maxProcesses, let path = directory("pids") { settings.append((path, "pids.max", "\(processes)")) }
        if let cpus = limits.cpus, let path = directory("cpu") {
            let quota = max(1000, Int(cpus * 100_000))
            if v2 {
                settings.append((path, "cpu.max", "\(quota) 100000"))
            } else {
                settings += [(path, "cpu.cfs_period_us", "100000"), (path, "cpu.cfs_quota_us", "\(quota)")]
            }
        }
        for (path, file, value) in settings where !CgroupHierarchy.write(value, to: path + "/" + file) {
            throw SandboxError(.setup, "cannot set \(file) = \(value) in '\(path)'", cause: SandboxPaths.errorText())
        }
    }

    /// The limits the job ran into (`memory` when the kernel killed a process for it, `processes` when a fork
    /// was refused), read from the cgroup's event counters.
    func exceededLimits() -> [String] {
        var exceeded: [String] = []
        if let memoryEvents, Self.counter("oom_kill", in: CgroupHierarchy.read(memoryEvents)) > 0 { exceeded.append("memory") }
        if let pidsEvents, Self.counter("max", in: CgroupHierarchy.read(pidsEvents)) > 0 { exceeded.append("processes") }
        return exceeded
    }

    static func counter(_ name: String, in text: String) -> Int {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == name { return Int(fields[1]) ?? 0 }
        }
        return 0
    }

    /// Kills every process left in the cgroup and removes it; false when it could not be removed.
    @discardableResult
    func destroy() -> Bool {
        killAll()
        return remove()
    }

    /// Kills every process left in the cgroup (a daemon the compile left behind, a fork bomb).
    func killAll() {
        for directory in directories {
            if version == .v2 { CgroupHierarchy.write("1", to: directory + "/cgroup.kill") }
            // Repeated: a process may fork between the read and the kill (the pids limit bounds how often). A process
            // that is exiting anyway stays listed for a moment, so the first re-reads come quickly.
            for attempt in 0..<220 {
                let pids = CgroupHierarchy.read(directory + "/cgroup.procs").split(separator: "\n").compactMap { pid_t($0) }
                if pids.isEmpty { break }
                for pid in pids { kill(pid, SIGKILL) }
                usleep(attempt < 20 ? 500 : 10_000)
            }
        }
    }

    /// Removes the cgroup once the processes killed in it are reaped; false when it could not be removed.
    @discardableResult
    func remove() -> Bool {
        var removed = true
        for directory in directories.reversed() {
            var attempts = 0
            // Killed processes leave the cgroup only once reaped; rmdir says EBUSY until then.
            while rmdir(directory) != 0 && errno != ENOENT {
                attempts += 1
                if attempts > 300 {
                    removed = false
                    break
                }
                usleep(10_000)
            }
        }
        return removed
    }

    /// Process-wide, so that two sandboxes in one process never share a cgroup name.
    private static let sequence = JobSequence()

    /// A name no other job has: the server's pid (so stale ones can be told apart) and a process-wide number.
    static func uniqueName() -> String { "job-\(getpid())-\(sequence.next())" }

    /// Removes the job cgroups left by builder processes that are gone; a live builder's stay untouched.
    static func removeStale(in hierarchy: CgroupHierarchy) {
        for parent in Set(hierarchy.parents.values) {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            for child in children where child.hasPrefix("job-") {
                guard let owner = child.split(separator: "-").dropFirst().first.flatMap({ pid_t($0) }) else { continue }
                if kill(owner, 0) != 0 && errno == ESRCH {
                    JobCgroup(directories: [parent + "/" + child], version: hierarchy.version).destroy()
                }
            }
        }
    }
}
