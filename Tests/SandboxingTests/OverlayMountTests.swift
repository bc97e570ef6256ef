import Foundation
import KilnTestSupport
import Testing

@testable import Sandboxing

/// This process's mount table, read whole (``KernelFile``).
func mountTable() -> String { KernelFile.text("/proc/self/mountinfo") ?? "" }

@Suite struct OverlayMountTests {
    /// A builder starting after a crash unmounts what the last run left under its `build_dir`. Those mounts are the
    /// newest, so the last lines of the mount table: it used to be read only up to its first 4 KiB, and a builder on a
    /// host with many mounts did not see its own (found as farms left mounted in /tmp by the end-to-end tests).
    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func mountsPastTheFirstFourKibibytesOfTheTableAreFoundAndUnmounted() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-overlay-mounts")
        let points = (0..<48).map { "\(directory.path)/builds/ahead-\($0)/root" }
        defer { for point in points.reversed() { umount2(point, Int32(MNT_DETACH)) } }
        for point in points {
            try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
            let mount = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", point])
            try #require(mount.status == 0, "\(mount.output)")
        }
        let table = mountTable()
        try #require(table.utf8.count > 4096 && table.contains(points[47]), "the table is longer than 4 KiB and ends with these mounts")

        #expect(Set(OverlayMount.mountPoints(under: directory.path)) == Set(points))
        #expect(OverlayMount.unmountAll(under: directory.path).isEmpty, "each one went")
        #expect(!mountTable().contains(directory.path))
    }
}
