import Foundation
import KilnTestSupport
import Testing

/// deploy/: the systemd units pass `systemd-analyze verify` with nothing to say and stay under an exposure
/// ceiling of `systemd-analyze security`; the Kubernetes manifests pass a strict schema validation
/// (kubernetes-validate, from PyPI) and run nothing privileged.
struct DeploymentFilesTests {
    static let deploy = SharedVectors.repositoryRoot.appendingPathComponent("deploy").path
    static let systemdAnalyze = "/usr/bin/systemd-analyze"
    /// The exposure each unit may have at most (systemd-analyze's 0–10 scale, times 10). The builder as root
    /// mounts and runs bubblewrap with its capabilities; the scheduler needs nothing.
    static let exposureCeilings = ["kiln-scheduler.service": 20, "kiln-builder-rootless.service": 70, "kiln-builder.service": 75]

    /// The units with ExecStart pointing at the builder-server under test (verify insists that it exists).
    static func unitsUnderTest() throws -> (directory: TemporaryDirectory, units: [String]) {
        let directory = try TemporaryDirectory(prefix: "kiln-units")
        let units = try FileManager.default.contentsOfDirectory(atPath: deploy + "/systemd").filter { $0.hasSuffix(".service") }.sorted()
        for unit in units {
            let text = try String(contentsOfFile: "\(deploy)/systemd/\(unit)", encoding: .utf8)
            _ = try directory.write(unit, Array(text.replacingOccurrences(of: "/usr/local/bin/builder-server", with: Binaries.builderServer).utf8))
        }
        return (directory, units)
    }

    static var systemdToolsMissing: String? {
        [Self.systemdAnalyze, Binaries.builderServer].first { !FileManager.default.isExecutableFile(atPath: $0) }
            .map { "\($0) is missing (scripts/test installs systemd and builds builder-server)" }
    }

    static var kubernetesValidate: String? {
        Binaries.environment["KILN_KUBERNETES_VALIDATE"].flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
    }

    @Test(.requires(Self.systemdToolsMissing)) func systemdUnitsVerifyCleanlyAndAreHardened() throws {
        let (directory, units) = try Self.unitsUnderTest()
        #expect(Set(units) == Set(Self.exposureCeilings.keys), "every unit has a ceiling: \(units)")
        for unit in units {
            let path = "\(directory.path)/\(unit)"
            let verify = try runToCompletion(Self.systemdAnalyze, ["verify", "--man=no", path], timeoutSeconds: 60)
            #expect(verify.status == 0 && verify.output.isEmpty, "\(unit): systemd-analyze verify says:\n\(verify.output)")
            let ceiling = Self.exposureCeilings[unit] ?? 0
            let security = try runToCompletion(
                Self.systemdAnalyze, ["security", "--offline=true", "--no-pager", "--threshold=\(ceiling)", path], timeoutSeconds: 60)
            #expect(security.status == 0, "\(unit): exposure above \(Double(ceiling) / 10):\n\(security.output.suffix(3000))")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for setting in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "KillSignal=SIGTERM"] {
                #expect(text.contains("\n\(setting)\n"), "\(unit) sets \(setting)")
            }
        }
    }

    @Test(.requires(Self.kubernetesValidate == nil ? "KILN_KUBERNETES_VALIDATE is not set (scripts/test installs kubernetes-validate)" : nil))
    func kubernetesManifestsValidateAndRunNothingPrivileged() throws {
        let validator = try #require(Self.kubernetesValidate)
        let directory = Self.deploy + "/kubernetes"
        let manifests = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(manifests.count >= 3, "\(manifests)")
        let result = try runToCompletion(
            validator, ["--strict", "--kubernetes-version", "1.33"] + manifests.map { "\(directory)/\($0)" }, timeoutSeconds: 120)
        #expect(result.status == 0 && !result.output.contains("ERROR"), "kubernetes-validate:\n\(result.output)")
        for kind in ["deployment/kiln-scheduler", "service/kiln-scheduler", "daemonset/kiln-builder"] {
            #expect(result.output.contains("passed for resource \(kind)"), "\(kind) was validated:\n\(result.output)")
        }
        let builder = try String(contentsOfFile: directory + "/builder-daemonset.yaml", encoding: .utf8)
        let all = try manifests.map { try String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }.joined()
        #expect(!all.contains("privileged: true"))
        #expect(!all.contains("allowPrivilegeEscalation: true"))
        for needed in ["rootless = true", "runAsNonRoot: true", "privileged: false", "allowPrivilegeEscalation: false", "drop: [\"ALL\"]"] {
            #expect(builder.contains(needed), "the builder DaemonSet has \(needed)")
        }
    }
}
