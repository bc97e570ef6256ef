import Foundation
import KilnTestSupport
import Testing

/// A Bazel 4 workspace in a test's directory, built offline: `@rules_cc` and `@rules_java` come from the stubs in
/// Tests/BazelStubs, and `--batch` leaves no Bazel server running after a command.
struct BazelWorkspace {
    static let bazel = "/usr/bin/bazel"
    let root: String
    let outputRoot: String
    /// The farm's client token, sent with every remote call.
    let token: String?

    init(in directory: String, token: String? = nil, build: String, files: [String: String] = [:]) throws {
        self.token = token
        root = directory + "/workspace"
        outputRoot = directory + "/bazel-root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: root + "/WORKSPACE"))
        for (name, text) in files.merging(["BUILD": build], uniquingKeysWith: { $1 }) {
            try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/" + name))
        }
    }

    /// Runs `bazel <arguments>`: its exit status, its summary of where actions ran ("7 processes: 4 internal,
    /// 3 remote."), and its whole output.
    func run(_ arguments: [String]) throws -> (status: Int32, processes: String, output: String) {
        let stubs = SharedVectors.repositoryRoot.appendingPathComponent("Tests/BazelStubs").path
        let startup = ["--output_user_root=\(outputRoot)", "--batch"]
        var all = startup + arguments
        if let command = arguments.first, command == "build" {
            all += ["--override_repository=rules_cc=\(stubs)/rules_cc", "--override_repository=rules_java=\(stubs)/rules_java"]
            if let token { all.append("--remote_header=Authorization=Bearer \(token)") }
        }
        let run = try runToCompletion(Self.bazel, all, directory: root, timeoutSeconds: 300)
        let summary = run.output.split(separator: "\n").last { $0.contains(" processes: ") || $0.contains(" process: ") }
        return (run.status, summary.map(String.init) ?? "", run.output)
    }

    func output(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: root + "/bazel-bin/" + path)) }
}
