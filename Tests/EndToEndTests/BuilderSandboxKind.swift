import Foundation
import KilnTestSupport

/// Which sandbox a Kiln builder of a test farm uses.
enum BuilderSandboxKind: String, CaseIterable, Sendable {
    case overlay, docker
    /// FreeBSD's pot, played by the fakes of Tests/PotFakes with jails in bubblewrap.
    case pot

    /// The `[builder]` table body for a builder whose files live under `directory` (for pot: a fake pot root
    /// there, with the template made by the documented setup steps).
    func builderTable(directory: String) throws -> String {
        switch self {
        case .overlay: return "type = \"overlay\"\nbuild_dir = \"\(directory)/build\"\nbwrap_path = \"/usr/bin/bwrap\""
        case .docker: return "type = \"docker\""
        case .pot:
            let fake = try FakePot(in: directory)
            try fake.createTemplate()
            return "type = \"pot\"\npot_fs_root = \"\(fake.root)\"\npot_cmd = \"\(fake.potCommand)\"\njexec_cmd = \"\(fake.jexecCommand)\""
        }
    }

    /// Why this sandbox cannot run here, or nil (the overlay's needs are in ``Binaries/missingPrerequisite``).
    var missingPrerequisite: String? {
        if self == .pot { return FakePot.missingPrerequisite }
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
