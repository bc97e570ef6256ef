/// Which sandbox runs the compiles (`[builder] type = …`).
public enum SandboxConfiguration: Sendable, Hashable {
    /// overlayfs + bubblewrap. `build_dir` is wiped at start; `bwrap_path` is the bubblewrap binary; Kiln's
    /// `rootless` (default: true unless the server runs as root) mounts each job's overlay in a user namespace;
    /// Kiln's `run_as` (`"uid:gid"`, default 65532:65532) is whom a root server's jobs run as; Kiln's `reapi_root`
    /// (default `["/usr"]`) the host directories bound read-only into REAPI actions, their whole root; Kiln's
    /// `jobs_dir` (default: `build_dir`) where the jobs' own layers go, in a directory of this builder's own.
    case overlay(
        buildDirectory: String, bubblewrapPath: String, rootless: Bool?, runAs: UserIDs? = nil, reapiRoot: [String] = ["/usr"],
        jobsDirectory: String? = nil)
    /// Docker through the Engine API; Kiln's optional keys (sccache-dist's docker builder has none).
    case docker(DockerConfiguration)
    /// FreeBSD pot jails, with sccache-dist's keys and defaults.
    case pot(PotConfiguration)

    init(reading table: inout TOMLTableReader) throws {
        let type = try table.requiredString("type", "the builder type")
        switch type {
        case "overlay":
            self = .overlay(
                buildDirectory: try table.requiredString("build_dir", "a directory path"),
                bubblewrapPath: try table.requiredString("bwrap_path", "the path of bwrap, e.g. /usr/bin/bwrap"),
                rootless: try table.bool("rootless"), runAs: try table.userIDs("run_as").map { UserIDs(uid: $0.uid, gid: $0.gid) },
                reapiRoot: try Self.reapiRoot(&table), jobsDirectory: try Self.absoluteDirectory("jobs_dir", in: &table))
        case "docker":
            self = .docker(try DockerConfiguration(reading: &table))
        case "pot":
            self = .pot(try PotConfiguration(reading: &table))
        default:
            throw ConfigurationError(.invalidValue, key: table.keyPath("type"), "'\(type)' is not a builder type; expected overlay, docker or pot")
        }
    }
}

extension SandboxConfiguration {
    /// `reapi_root`: absolute host directories, none of them `/` (that would hand actions the whole host).
    static func reapiRoot(_ table: inout TOMLTableReader) throws -> [String] {
        guard let paths = try table.stringArray("reapi_root") else { return ["/usr"] }
        for path in paths { try checkAbsoluteDirectory(path, key: "reapi_root", example: "/usr", in: table) }
        return paths
    }

    /// An optional absolute directory below `/`.
    static func absoluteDirectory(_ key: String, in table: inout TOMLTableReader) throws -> String? {
        guard let path = try table.string(key) else { return nil }
        try checkAbsoluteDirectory(path, key: key, example: "/dev/shm", in: table)
        return path
    }

    private static func checkAbsoluteDirectory(_ path: String, key: String, example: String, in table: TOMLTableReader) throws {
        let parts = path.split(separator: "/")
        guard path.hasPrefix("/"), !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            throw ConfigurationError(
                .invalidValue, key: table.keyPath(key), "'\(path)' is not an absolute directory below / (such as \"\(example)\")")
        }
    }
}

/// A uid and gid that compiles run as (`run_as = "uid:gid"`).
public struct UserIDs: Sendable, Hashable {
    public var uid: Int
    public var gid: Int
    public init(uid: Int, gid: Int) {
        self.uid = uid
        self.gid = gid
    }
}
