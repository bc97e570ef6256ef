import Foundation
import KilnTestSupport
import Testing

/// The tests' own temporary directories go even when a killed server left a mount in them (a builder's overlay made
/// ahead): the end-to-end farms stayed in /tmp, mounted, before.
@Suite struct TemporaryDirectoryTests {
    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func aDirectoryWithAMountInItIsRemovedWhole() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-mounted")
        let inner = directory.path + "/build/ahead-1/root"
        try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: true)
        let mount = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", inner])
        try #require(mount.status == 0, "\(mount.output)")
        _ = FileManager.default.createFile(atPath: inner + "/file", contents: Data("x".utf8))
        directory.remove()
        let mounts = mountTable()
        #expect(!mounts.contains(directory.path), "the mount is gone")
        #expect(!FileManager.default.fileExists(atPath: directory.path), "and so is the directory")
    }
}
