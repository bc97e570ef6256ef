import ArchiveKit
import Foundation
import KilnTestSupport
import Testing

/// The content digest names what an archive unpacks to: GNU tar packaging one tree at other times, as other owners,
/// at other gzip levels gives one digest; every change to what unpacks gives another.
@Suite struct ArchiveContentDigestTests {
    /// A small toolchain tree: an executable, a setuid helper, a library, links, an empty `tmp` (as sccache packs).
    static func makeTree(in directory: String) throws {
        let files = FileManager.default
        for sub in ["usr/bin", "usr/lib", "tmp"] { try files.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true) }
        try Data("#!/bin/sh\necho gcc\n".utf8).write(to: URL(fileURLWithPath: directory + "/usr/bin/gcc"))
        chmod(directory + "/usr/bin/gcc", 0o755)
        try Data("helper".utf8).write(to: URL(fileURLWithPath: directory + "/usr/bin/helper"))
        chmod(directory + "/usr/bin/helper", 0o4755)
        try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: directory + "/usr/lib/libc.so.6"))
        try files.createSymbolicLink(atPath: directory + "/usr/bin/cc", withDestinationPath: "gcc")
        try files.linkItem(atPath: directory + "/usr/bin/gcc", toPath: directory + "/usr/bin/gcc-12")
    }

    /// GNU tar of `tree` with every member's mtime and owner set, compressed by `compressor` (nil: plain tar).
    static func pack(_ tree: String, into archive: String, mtime: Int, owner: Int, compressor: String?) throws {
        var arguments = ["--sort=name", "--mtime=@\(mtime)", "--owner=\(owner)", "--group=\(owner)", "-C", tree, "-cf", archive]
        if let compressor { arguments.insert(contentsOf: ["-I", compressor], at: 0) }
        let made = try runCommand("/bin/tar", arguments + ["."])
        guard made.status == 0 else { throw TestFailure("tar failed (\(made.status)): \(made.output)") }
    }

    static func digest(_ archive: String) throws -> [UInt8] { try SafeExtractor(limits: .toolchain).contentDigest(file: archive) }

    @Test func oneTreePackagedTwiceHasOneDigest() throws {
        let scratch = try TemporaryDirectory()
        let tree = scratch.path + "/tree"
        try Self.makeTree(in: tree)
        let (first, second, plain) = (scratch.path + "/a.tar.gz", scratch.path + "/b.tar.gz", scratch.path + "/c.tar")
        try Self.pack(tree, into: first, mtime: 1_700_000_000, owner: 0, compressor: "gzip -1")
        try Self.pack(tree, into: second, mtime: 1_700_000_001, owner: 1000, compressor: "gzip -9")
        try Self.pack(tree, into: plain, mtime: 1_600_000_000, owner: 7, compressor: nil)
        #expect(FileManager.default.contents(atPath: first) != FileManager.default.contents(atPath: second), "the archives differ")
        let digest = try Self.digest(first)
        #expect(digest.count == 32)
        #expect(try Self.digest(second) == digest, "another second, owner and gzip level: the same content")
        #expect(try Self.digest(plain) == digest, "and read as a stream instead of inflated whole")

        let root = scratch.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let summary = try SafeExtractor(limits: .toolchain).extract(file: second, into: root, inflatingWhole: true, digesting: true)
        #expect(summary.contentDigest == digest, "the digest made while unpacking is the same")
        #expect(FileManager.default.contents(atPath: root + "/usr/lib/libc.so.6")?.count == 200_000)
    }

    @Test func everyChangeToWhatUnpacksChangesTheDigest() throws {
        let changes: [(String, (String) throws -> Void)] = [
            ("one byte of a file", { try Data("#!/bin/sh\necho gcd\n".utf8).write(to: URL(fileURLWithPath: $0 + "/usr/bin/gcc")) }),
            ("a file's mode", { chmod($0 + "/usr/lib/libc.so.6", 0o600) }),
            (
                "a symlink's target",
                {
                    unlink($0 + "/usr/bin/cc"); symlink("gcc-12", $0 + "/usr/bin/cc")
                }
            ),
            ("a file's name", { rename($0 + "/usr/bin/helper", $0 + "/usr/bin/helpers") }),
            ("an empty directory more", { mkdir($0 + "/usr/include", 0o755) }),
            ("an empty file more", { _ = FileManager.default.createFile(atPath: $0 + "/tmp/x", contents: Data()) }),
            (
                "a hard link made a copy",
                {
                    unlink($0 + "/usr/bin/gcc-12"); _ = try? FileManager.default.copyItem(atPath: $0 + "/usr/bin/gcc", toPath: $0 + "/usr/bin/gcc-12")
                }
            ),
            ("a directory's mode", { chmod($0 + "/tmp", 0o700) }),
        ]
        let scratch = try TemporaryDirectory()
        var digests: [String: String] = [:]
        for (index, (name, change)) in ([("nothing", { _ in })] + changes).enumerated() {
            let tree = scratch.path + "/tree-\(index)"
            try Self.makeTree(in: tree)
            try change(tree)
            let archive = tree + ".tar.gz"
            try Self.pack(tree, into: archive, mtime: 1_700_000_000, owner: 0, compressor: "gzip")
            let hex = try Self.digest(archive).map { String(format: "%02x", $0) }.joined()
            #expect(digests[hex] == nil, "\(name) gives the digest of \(digests[hex] ?? "")")
            digests[hex] = name
        }
        #expect(digests.count == changes.count + 1)
    }

    @Test func aHostileArchiveIsRefusedAndNothingIsWritten() throws {
        let scratch = try TemporaryDirectory()
        let archive = scratch.path + "/hostile.tar"
        let writer = try TarArchiveWriter(path: archive)
        try writer.addFile("usr/bin/gcc", contents: [1])
        try writer.addFile("../../escape", contents: [2])
        try writer.finish()
        #expect(throws: ArchiveError.self) { try Self.digest(archive) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["hostile.tar"])
    }
}
