import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The cgroup controllers this server may use for its jobs, found once at start: cgroup v2 when the host has a
/// unified hierarchy and the server's own cgroup is delegated to it, otherwise the v1 `memory`, `pids` and `cpu`
/// hierarchies it can write to (a hybrid host has both). Jobs get a cgroup under `kiln-jobs` next to the server's.
public struct CgroupHierarchy: Sendable, Hashable {
    public enum Version: String, Sendable { case v1, v2 }
    public let version: Version
    /// Controller (`memory`, `pids`, `cpu`) → the directory that holds the jobs' cgroups. In v2 all share one.
    public let parents: [String: String]

    static let controllers = ["memory", "pids", "cpu"]

    /// The writable hierarchy of this host, or nil when the server may not make cgroups (then rlimits apply).
    public static func detect() -> CgroupHierarchy? {
        #if os(Linux)
            if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") { return detectV2() }
            return detectV1()
        #else
            return nil  // cgroups are Linux's: elsewhere the limits are rlimits (overlay) or the jail's (pot)
        #endif
    }

    private static func detectV2() -> CgroupHierarchy? {
        guard let own = ownPaths()["unified"] else { return nil }
        let base = "/sys/fs/cgroup" + (own == "/" ? "" : own)
        let available = Set(read(base + "/cgroup.controllers").split(separator: " ").map(String.init))
        let wanted = controllers.filter(available.contains)
        guard !wanted.isEmpty else { return nil }
        // "No internal processes": below the root the server moves into a leaf before its cgroup delegates.
        if own != "/" {
            guard makeDirectory(base + "/kiln-server"), write("\(getpid())", to: base + "/kiln-server/cgroup.procs") else { return nil }
        }
        let enable = wanted.map { "+" + $0 }.joined(separator: " ")
        let jobs = base + "/kiln-jobs"
        guard write(enable, to: base + "/cgroup.subtree_control"), makeDirectory(jobs), write(enable, to: jobs + "/cgroup.subtree_control")
        else { return nil }
        return CgroupHierarchy(version: .v2, parents: Dictionary(uniqueKeysWithValues: wanted.map { ($0, jobs) }))
    }

    private static func detectV1() -> CgroupHierarchy? {
        let own = ownPaths()
        var parents: [String: String] = [:]
        for (controller, mountPoint) in v1MountPoints() {
            guard let path = own[controller] else { continue }
            let jobs = mountPoint + (path == "/" ? "" : path) + "/kiln-jobs"
            let probe = jobs + "/probe-\(getpid())"
            guard makeDirectory(jobs), makeDirectory(probe) else { continue }
            rmdir(probe)
            parents[controller] = jobs
        }
        return parents.isEmpty ? nil : CgroupHierarchy(version: .v1, parents: parents)
    }

    /// `/proc/self/cgroup`: controller → the server's path in that hierarchy (`unified` for the v2 line).
    static func ownPaths(_ text: String = read("/proc/self/cgroup")) -> [String: String] {
        var paths: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty { paths["unified"] = String(fields[2]) }
            for controller in fields[1].split(separator: ",") { paths[String(controller)] = String(fields[2]) }
        }
        return paths
    }

    /// Mount points of the v1 hierarchies of ``controllers`` from `/proc/self/mountinfo`.
    static func v1MountPoints(_ text: String = read("/proc/self/mountinfo")) -> [String: String] {
        var points: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let separator = line.range(of: " - ") else { continue }
            let mount = line[..<separator.lowerBound].split(separator: " ")
            let tail = line[separator.upperBound...].split(separator: " ")
            guard mount.count > 4, tail.count >= 3, tail[0] == "cgroup" else { continue }
            for option in tail[2].split(separator: ",") where controllers.contains(String(option)) {
                points[String(option)] = String(mount[4])
            }
        }
        return points
    }

    static func read(_ path: String) -> String {
        KernelFile.text(path)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    @discardableResult
    static func write(_ value: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }

    static func makeDirectory(_ path: String) -> Bool { mkdir(path, 0o755) == 0 || errno == EEXIST }
}
