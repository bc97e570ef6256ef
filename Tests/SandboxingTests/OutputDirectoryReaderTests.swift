import Foundation
import KilnProtocol
import KilnTestSupport
import Testing
import WireStreams

@testable import Sandboxing

/// Directory outputs read from a job's root: everything under them, nothing through a symlink, bounded.
@Suite struct OutputDirectoryReaderTests {
    static func layout(_ outputs: [String]) throws -> JobLayout {
        try JobLayout(command: CompileCommand(executable: "/bin/true", arguments: [], environment: [], cwd: "/work"), outputs: outputs)
    }

    static func read(_ outputs: [String], under root: String) async throws -> [String: String] {
        let produced = try await layout(outputs).readOutputs(under: root, limit: 1 << 20, total: 4 << 20)
        return Dictionary(uniqueKeysWithValues: try produced.map { ($0.path, String(decoding: try $0.data.decompressed(), as: UTF8.self)) })
    }

    @Test func everythingUnderADirectoryComesBackAndMissingOnesAreLeftOut() async throws {
        let root = try TemporaryDirectory(prefix: "kiln-outdir")
        let files = FileManager.default
        try files.createDirectory(atPath: root.path + "/work/gen/sub/empty", withIntermediateDirectories: true)
        try Data("a".utf8).write(to: URL(fileURLWithPath: root.path + "/work/gen/a.txt"))
        try Data("b".utf8).write(to: URL(fileURLWithPath: root.path + "/work/gen/sub/b.txt"))
        try Data("f".utf8).write(to: URL(fileURLWithPath: root.path + "/work/plain"))
        let read = try await Self.read(["gen/", "absent/", "plain/", "plain"], under: root.path)
        #expect(
            read == ["gen/": "", "gen/a.txt": "a", "gen/sub/": "", "gen/sub/b.txt": "b", "gen/sub/empty/": "", "plain": "f"],
            "a file is no directory output, and a missing directory is left out")
    }

    @Test func symlinksAreRefusedInsideAndOnTheWay() async throws {
        let root = try TemporaryDirectory(prefix: "kiln-outdir")
        let files = FileManager.default
        try files.createDirectory(atPath: root.path + "/work/gen", withIntermediateDirectories: true)
        try files.createSymbolicLink(atPath: root.path + "/work/gen/passwd", withDestinationPath: "/etc/passwd")
        let inside = await #expect(throws: SandboxError.self) { _ = try await Self.read(["gen/"], under: root.path) }
        #expect(inside?.code == .unsafeOutput)
        try files.createSymbolicLink(atPath: root.path + "/work/etc", withDestinationPath: "/etc")
        let itself = await #expect(throws: SandboxError.self) { _ = try await Self.read(["etc/"], under: root.path) }
        #expect(itself?.code == .unsafeOutput, "a directory output that is a symlink is not followed")
        try files.createDirectory(atPath: root.path + "/work/up", withIntermediateDirectories: true)
        try files.createSymbolicLink(atPath: root.path + "/work/up/link", withDestinationPath: "/")
        let onTheWay = await #expect(throws: SandboxError.self) { _ = try await Self.read(["up/link/etc/"], under: root.path) }
        #expect(onTheWay?.code == .unsafeOutput)
    }

    @Test func deepTreesAndLargeFilesAreBounded() async throws {
        let root = try TemporaryDirectory(prefix: "kiln-outdir")
        try FileManager.default.createDirectory(atPath: root.path + "/work/deep", withIntermediateDirectories: true)
        try SandboxTreeTests.deepTree(in: root.path + "/work/deep", depth: OutputDirectoryReader.maxDepth + 5)
        let deep = await #expect(throws: SandboxError.self) { _ = try await Self.read(["deep/"], under: root.path) }
        #expect(deep?.code == .limitExceeded, "the walk stops at its depth, the builder goes on")
        try FileManager.default.createDirectory(atPath: root.path + "/work/big", withIntermediateDirectories: true)
        try Data(count: 2 << 20).write(to: URL(fileURLWithPath: root.path + "/work/big/blob"))
        let big = await #expect(throws: SandboxError.self) { _ = try await Self.read(["big/"], under: root.path) }
        #expect(big?.code == .unsafeOutput, "a file past the output limit is refused, as a single output is")
    }

    /// A directory of more entries than allowed is refused while it is listed, not after all are held.
    @Test func tooManyEntriesAreRefused() throws {
        let root = try TemporaryDirectory(prefix: "kiln-outdir")
        try FileManager.default.createDirectory(atPath: root.path + "/gen/sub", withIntermediateDirectories: true)
        for index in 0..<6 { try Data().write(to: URL(fileURLWithPath: root.path + "/gen/sub/f\(index)")) }
        var enough = OutputDirectoryReader(fileLimit: 100, remaining: 100, entryLimit: 7)
        try enough.read(["gen"], named: "gen/", under: root.path)
        #expect(enough.produced.count == 8, "gen/, gen/sub/ and six files")
        var tooFew = OutputDirectoryReader(fileLimit: 100, remaining: 100, entryLimit: 6)
        let refused = #expect(throws: SandboxError.self) { try tooFew.read(["gen"], named: "gen/", under: root.path) }
        #expect(refused?.code == .limitExceeded)
    }
}
