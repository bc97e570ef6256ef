import Foundation
import KilnProtocol
import KilnTestSupport
import Sandboxing
import WireStreams

/// Jobs that run a shell script with the test toolchain in `/work/job`, and their outputs as text.
struct ShellJobs {
    let directory: TemporaryDirectory
    let archive: String
    let toolchain: Toolchain

    init(in directory: TemporaryDirectory, scripts: [String: String] = [:], symlinks: [String: String] = [:]) throws {
        self.directory = directory
        (archive, toolchain) = try TestToolchain.make(in: directory, scripts: scripts, symlinks: symlinks)
    }

    func job(
        _ script: String, outputs: [String] = [], inputs: [String: String] = [:], environment: [EnvironmentVariable] = [], id: UInt64 = 1
    ) throws -> SandboxJob {
        SandboxJob(
            id: JobID(id), toolchain: toolchain, toolchainArchivePath: archive,
            command: CompileCommand(
                executable: "/bin/sh", arguments: ["-c", script], environment: [EnvironmentVariable("PATH", "/bin:/usr/bin")] + environment,
                cwd: "/work/job"),
            outputs: outputs, inputsTarPath: try TestToolchain.inputs(in: directory, inputs, name: "inputs-\(id)-\(UUID()).tar"))
    }

    func output(_ result: JobComplete, _ path: String) throws -> String? {
        try result.outputs.first { $0.path == path }.map { String(decoding: try $0.data.decompressed(), as: UTF8.self) }
    }
}
