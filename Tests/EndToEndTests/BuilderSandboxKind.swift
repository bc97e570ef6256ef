import Foundation
import KilnTestSupport

/// Which sandbox a Kiln builder of a test farm uses.
enum BuilderSandboxKind: String, CaseIterable, Sendable {
    case overlay, docker
    /// FreeBSD's pot, played by the fakes of Tests/PotFakes with jails in bubblewrap.
    case pot
    /// The overlay sandbox in a builder-server that runs as an ordinary user (``RootlessUser``).
    case rootless

    /// The `[builder]` table body for a builder whose files live under `directory` (for pot: a fake pot root
    /// there, with the template made by the documented setup steps).
    func builderTable(directory: String) throws -> String {
        switch self {
        case .overlay: return "type = \"overlay\"\nbuild_dir = \"\(directory)/build\"\nbwrap_path = \"/usr/bin/bwrap\""
        case .rootless: return "type = \"overlay\"\nbuild_dir = \"\(directory)/build\"\nbwrap_path = \"/usr/bin/bwrap\"\nrootless = true"
        case .docker: return "type = \"docker\""
        case .pot:
            let fake = try FakePot(in: directory)
            try fake.createTemplate()
            return
                "type = \"pot\"\npot_fs_root = \"\(fake.root)\"\npot_cmd = \"\(fake.potCommand)\"\njexec_cmd = \"\(fake.jexecCommand)\"\nrctl_cmd = \"\(fake.rctlCommand)\""
        }
    }

    /// Why this sandbox cannot run here, or nil (the overlay's needs are in ``Binaries/missingPrerequisite``).
    var missingPrerequisite: String? {
        if self == .pot { return FakePot.missingPrerequisite }
        if self == .rootless { return RootlessUser.missingPrerequisite }
        guard self == .docker else { return nil }
        let probe = try? runCommand(
            "/usr/bin/curl",
            ["-fsS", "--max-time", "5", "--unix-socket", DockerEngineForTests.socket, "http://docker/v1.41/images/kiln-base:busybox/json"])
        guard probe?.status == 0 else {
            return "no Docker engine with the image kiln-base:busybox on \(DockerEngineForTests.socket) (scripts/test starts one and builds it)"
        }
        return nil
    }
}

/// Test-side upkeep of the engine: removes what a builder left when it was killed rather than stopped.
enum DockerEngineForTests {
    static let socket = "/var/run/docker.sock"

    /// Removes the containers and images labeled with a builder's instance (its public address).
    static func removeLeftovers(instance: String) {
        let filter = "{\"label\":[\"dev.kiln.instance=\(instance)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        for (list, remove) in [("containers/json?all=1&filters=", "containers/%@?force=1&v=1"), ("images/json?filters=", "images/%@?force=1")] {
            guard
                let answer = try? runCommand(
                    "/usr/bin/curl", ["-fsS", "--max-time", "30", "--unix-socket", socket, "http://docker/v1.41/\(list)\(filter)"]),
                answer.status == 0, let objects = try? JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [[String: Any]]
            else { continue }
            for case let id as String in objects.compactMap({ $0["Id"] }) {
                _ = try? runCommand(
                    "/usr/bin/curl",
                    ["-fsS", "--max-time", "60", "-X", "DELETE", "--unix-socket", socket, "http://docker/v1.41/" + String(format: remove, id)])
            }
        }
    }
}

/// The unprivileged account rootless builders run as: `$KILN_ROOTLESS_USER`, by default `kiln-rootless`, which
/// scripts/test creates. The builder is started through `setpriv` with that user's uid and gid and no groups.
enum RootlessUser {
    static var name: String { Binaries.environment["KILN_ROOTLESS_USER"] ?? "kiln-rootless" }

    static var ids: (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam(name), entry.pointee.pw_uid != 0 else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    static var missingPrerequisite: String? {
        guard let ids else { return "no unprivileged user '\(name)' (scripts/test creates it; or set KILN_ROOTLESS_USER)" }
        let probe = try? runCommand(
            "/usr/bin/setpriv", ["--reuid=\(ids.uid)", "--regid=\(ids.gid)", "--clear-groups", "--", "/usr/bin/test", "-x", Binaries.builderServer])
        guard probe?.status == 0 else { return "user '\(name)' cannot run \(Binaries.builderServer) (a parent directory is not searchable)" }
        return nil
    }

    /// The command that runs `executable` as the user.
    static func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        let ids = ids ?? (65534, 65534)
        return ("/usr/bin/setpriv", ["--reuid=\(ids.uid)", "--regid=\(ids.gid)", "--clear-groups", "--", executable] + arguments)
    }

    /// Hands `path` (recursively) to the user and opens the way to it.
    static func handOver(_ path: String, farmRoot: String) throws {
        let ids = ids ?? (65534, 65534)
        chmod(farmRoot, 0o755)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard try runCommand("/bin/chown", ["-R", "\(ids.uid):\(ids.gid)", path]).status == 0 else { throw TestFailure("chown \(path) failed") }
    }
}
