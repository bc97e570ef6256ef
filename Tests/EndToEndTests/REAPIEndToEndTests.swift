import Foundation
import KilnTestSupport
import Testing

/// The scheduler's REAPI endpoint with real clients: BuildGrid's `bgd` moves a tree through the CAS, and Bazel
/// 4.2.3 uses it as its remote cache.
@Suite(.serialized) struct REAPIEndToEndTests {
    static var bgd: String? {
        let path = Binaries.environment["KILN_BGD"] ?? SharedVectors.repositoryRoot.appendingPathComponent(".kiln/buildgrid/bin/bgd").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }
    static let bazel = "/usr/bin/bazel"

    static var missingBgd: String? {
        Binaries.missingPrerequisite ?? (bgd == nil ? "bgd is missing (scripts/test installs buildgrid from PyPI into .kiln/buildgrid)" : nil)
    }
    static var missingBazel: String? {
        Binaries.missingPrerequisite
            ?? (FileManager.default.isExecutableFile(atPath: bazel) ? nil : "\(bazel) is missing (scripts/test installs Debian's bazel-bootstrap)")
    }

    /// A farm whose scheduler serves REAPI on a port of its own; returns the `grpc://` address.
    static func startScheduler(_ farm: Farm, port: UInt16) throws {
        try farm.startKilnScheduler(tables: "[reapi]\nlisten = \"127.0.0.1:\(port)\"\ncas_size = \"256M\"\n")
        try farm.waitFor("the REAPI endpoint to listen") { farm.processes.last?.log.contains("REAPI endpoint listening") == true }
    }

    /// A tree of every kind of entry: nested directories, an executable, a symlink, an empty file and a file
    /// larger than one batch (ByteStream's path).
    static func writeTree(at root: String) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: root + "/src/deep/er", withIntermediateDirectories: true)
        try Data("int main(void) { return 0; }\n".utf8).write(to: URL(fileURLWithPath: root + "/src/main.c"))
        try Data("#!/bin/sh\necho run\n".utf8).write(to: URL(fileURLWithPath: root + "/src/deep/run.sh"))
        try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/src/deep/run.sh")
        try Data().write(to: URL(fileURLWithPath: root + "/src/deep/er/empty"))
        try files.createSymbolicLink(atPath: root + "/src/link.c", withDestinationPath: "main.c")
        let large = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try Data(large).write(to: URL(fileURLWithPath: root + "/src/large.bin"))
    }

    @Test(.requires(missingBgd)) func bgdMovesATreeThroughTheCASAcrossARestart() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startScheduler(farm, port: port)
        try Self.writeTree(at: farm.root + "/in")
        let remote = ["--remote", "http://127.0.0.1:\(port)"]
        let upload = try runToCompletion(Self.bgd!, ["cas"] + remote + ["upload-dir", farm.root + "/in/src"], timeoutSeconds: 120)
        #expect(upload.status == 0, "\(upload.output)\n\(farm.logs)")
        let pushed = upload.output.split(separator: "\n").last { $0.contains("Pushed path=[\(farm.root)/in/src]") }
        let digest = try #require(pushed?.split(separator: "[").last?.split(separator: "]").first.map(String.init), "\(upload.output)")

        // The scheduler goes down and comes back on the same directory: the tree is still there.
        farm.processes.last?.stop()
        try Self.startScheduler(farm, port: port)
        let download = try runToCompletion(Self.bgd!, ["cas"] + remote + ["download-dir", digest, farm.root + "/out"], timeoutSeconds: 120)
        #expect(download.status == 0, "\(download.output)\n\(farm.logs)")
        let compare = try runToCompletion("/usr/bin/diff", ["-r", "--no-dereference", farm.root + "/in/src", farm.root + "/out"])
        #expect(compare.status == 0, "\(compare.output)")
        let mode = try FileManager.default.attributesOfItem(atPath: farm.root + "/out/deep/run.sh")[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o100 != 0 } == true, "the executable bit came back")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: farm.root + "/out/link.c") == "main.c")
    }

    /// Bazel 4.2.3 (Debian's bazel-bootstrap, offline) builds genrules with the scheduler as its remote cache;
    /// after `bazel clean` every action is a remote cache hit and the outputs are the same bytes.
    @Test(.requires(missingBazel)) func bazelUsesTheSchedulerAsItsRemoteCache() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startScheduler(farm, port: port)
        let workspace = farm.root + "/workspace"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: workspace + "/WORKSPACE"))
        try Data(
            """
            genrule(name = "words", outs = ["words.txt"], cmd = "for i in $$(seq 1 5000); do echo word$$i; done > $@")
            genrule(name = "upper", srcs = [":words"], outs = ["upper.txt"], cmd = "tr a-z A-Z < $< > $@")
            genrule(name = "count", srcs = [":upper"], outs = ["count.txt"], cmd = "wc -l < $< > $@")
            """.utf8
        ).write(to: URL(fileURLWithPath: workspace + "/BUILD"))
        let startup = ["--output_user_root=\(farm.root)/bazel-root", "--batch"]
        let options = ["--remote_cache=grpc://127.0.0.1:\(port)", "--spawn_strategy=standalone", "//:count"]
        /// Runs Bazel; returns its summary of where the actions ran ("4 processes: 1 internal, 3 local.").
        func bazel(_ arguments: [String]) throws -> String {
            let run = try runToCompletion(Self.bazel, startup + arguments, directory: workspace, timeoutSeconds: 300)
            #expect(run.status == 0, "\(run.output.suffix(3000))\n\(farm.logs)")
            return run.output.split(separator: "\n").last { $0.contains(" processes: ") }.map(String.init) ?? run.output
        }
        #expect(try bazel(["build"] + options).hasSuffix("processes: 1 internal, 3 local."))
        let built = try Data(contentsOf: URL(fileURLWithPath: workspace + "/bazel-bin/count.txt"))
        _ = try bazel(["clean"])
        #expect(try bazel(["build"] + options).hasSuffix("processes: 3 remote cache hit, 1 internal."), "nothing ran locally")
        #expect(try Data(contentsOf: URL(fileURLWithPath: workspace + "/bazel-bin/count.txt")) == built)
        #expect(String(decoding: built, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "5000")
    }
}
