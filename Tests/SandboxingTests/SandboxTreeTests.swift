import Foundation
import KilnTestSupport
import Testing

@testable import Sandboxing

/// Removal inside a sandbox root by descriptor: no symlink followed, no depth too great.
@Suite struct SandboxTreeTests {
    /// Makes `depth` nested directories named `d` under `directory`, a file in the deepest; deeper than PATH_MAX.
    static func deepTree(in directory: String, depth: Int) throws {
        var current = open(directory, O_RDONLY | O_DIRECTORY)
        try #require(current >= 0)
        for _ in 0..<depth {
            try #require(mkdirat(current, "d", 0o755) == 0)
            let next = openat(current, "d", O_RDONLY | O_DIRECTORY)
            close(current)
            try #require(next >= 0)
            current = next
        }
        let file = openat(current, "deepest.o", O_WRONLY | O_CREAT, 0o644)
        try #require(file >= 0)
        let megabyte = [UInt8](repeating: 7, count: 1 << 20)
        try #require(megabyte.withUnsafeBytes { write(file, $0.baseAddress, $0.count) } == 1 << 20)
        close(file)
        close(current)
    }

    @Test func removesATreeDeeperThanAnyPathAndKeepsItsSiblings() throws {
        let root = try TemporaryDirectory(prefix: "kiln-tree")
        try FileManager.default.createDirectory(atPath: root.path + "/tmp/job", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root.path + "/tmp/keep", contents: Data("keep".utf8))
        try Self.deepTree(in: root.path + "/tmp/job", depth: 2600)  // 2 bytes a level: past PATH_MAX (4096)
        #expect(SandboxTree.remove(["tmp", "job"], under: root.path))
        #expect(!FileManager.default.fileExists(atPath: root.path + "/tmp/job"))
        #expect(FileManager.default.fileExists(atPath: root.path + "/tmp/keep"))
        #expect(SandboxTree.remove(["tmp", "job"], under: root.path), "what is gone already is removed")
    }

    @Test func removesABranchingTreeWithLockedDirectories() throws {
        let root = try TemporaryDirectory(prefix: "kiln-tree")
        // Three levels of four subdirectories each, files and a symlink beside them at every level; some
        // directories locked by their owner (a rootless job can do that to what it wrote).
        var directories = ["job"]
        for _ in 0..<3 {
            directories = directories.flatMap { parent in (0..<4).map { "\(parent)/d\($0)" } }
            for directory in directories {
                try FileManager.default.createDirectory(atPath: "\(root.path)/\(directory)", withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: "\(root.path)/\(directory)/f.o", contents: Data("o".utf8))
                try FileManager.default.createSymbolicLink(atPath: "\(root.path)/\(directory)/l", withDestinationPath: "/etc")
            }
        }
        for directory in directories where directory.hasSuffix("d1") { #expect(chmod("\(root.path)/\(directory)", 0) == 0) }
        #expect(chmod("\(root.path)/job/d2", 0o500) == 0)
        _ = FileManager.default.createFile(atPath: root.path + "/keep", contents: Data("keep".utf8))
        #expect(SandboxTree.remove(["job"], under: root.path))
        #expect(!FileManager.default.fileExists(atPath: root.path + "/job"))
        #expect(FileManager.default.fileExists(atPath: root.path + "/keep"))
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "the links went, not what they point to")
    }

    /// A removal that cannot finish (here a mount point, busy in this namespace) leaves the directories it did not
    /// remove with the modes they had: a root builder's `build_dir` stays open to the job user.
    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func aRemovalThatStopsHalfWayKeepsTheModesItFound() throws {
        let root = try TemporaryDirectory(prefix: "kiln-tree")
        let job = root.path + "/job"
        try FileManager.default.createDirectory(atPath: job + "/busy", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: job + "/locked", withIntermediateDirectories: true)
        #expect(chmod(job, 0o755) == 0 && chmod(job + "/locked", 0o500) == 0)
        let mount = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", job + "/busy"])
        try #require(mount.status == 0, "\(mount.output)")
        defer { _ = try? runCommand("/bin/umount", [job + "/busy"]) }
        #expect(!SandboxTree.remove(["job"], under: root.path), "a mount point cannot be removed")
        var info = stat()
        #expect(stat(job, &info) == 0 && info.st_mode & 0o777 == 0o755, "mode \(String(info.st_mode & 0o777, radix: 8))")
        #expect(FileManager.default.fileExists(atPath: job + "/busy"))
    }

    @Test func neverFollowsASymlinkOnTheWayOrInTheTree() throws {
        let root = try TemporaryDirectory(prefix: "kiln-tree")
        let outside = try TemporaryDirectory(prefix: "kiln-tree-outside")
        _ = FileManager.default.createFile(atPath: outside.path + "/precious", contents: Data("x".utf8))
        try FileManager.default.createDirectory(atPath: root.path + "/work", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/work/link", withDestinationPath: outside.path)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/via", withDestinationPath: outside.path)
        #expect(!SandboxTree.remove(["via", "precious"], under: root.path), "a symlinked directory on the way is refused")
        #expect(SandboxTree.remove(["work"], under: root.path))
        #expect(!FileManager.default.fileExists(atPath: root.path + "/work"))
        #expect(FileManager.default.fileExists(atPath: outside.path + "/precious"), "the link went, not what it points to")
        #expect(SandboxTree.isPlainDirectory(["tmp"], under: root.path) == false)
        #expect(SandboxTree.isPlainDirectory(["via"], under: root.path) == false)
    }

    @Test func countsEverythingInATreeDeeperThanAnyPath() throws {
        let root = try TemporaryDirectory(prefix: "kiln-tree")
        try Self.deepTree(in: root.path, depth: 2600)
        let counted = SandboxTree.allocatedBytes(under: root.path)
        #expect(counted >= (1 << 20) + 2600 * 4096, "the megabyte at the bottom and every directory on the way: \(counted)")
        #expect(SandboxTree.removeTree(root.path + "/d"))
        #expect(SandboxTree.allocatedBytes(under: root.path) == 0)
    }
}
