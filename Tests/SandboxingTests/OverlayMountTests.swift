import BuilderCore
import Foundation
import KilnProtocol
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

    /// A job's overlay is volatile (its end does not write back the whole disk filesystem), and the mark such a mount
    /// leaves in `work` goes when the tree is kept for the next job: the next mount of that same tree succeeds (the
    /// kernel refuses a work directory a volatile mount used) and starts empty.
    @Test(.enabled(if: geteuid() == 0, "mounting overlayfs needs root"))
    func jobOverlaysAreVolatileAndAKeptTreeMountsAgain() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-overlay-volatile")
        let lower = directory.path + "/lower"
        try FileManager.default.createDirectory(atPath: lower, withIntermediateDirectories: true)
        let spares = SpareJobTrees(in: directory.path)
        for (number, job) in ["job-1", "job-2"].enumerated() {
            let tree = directory.path + "/" + job
            try spares.make(tree, user: nil)
            try OverlayMount.mount(lower: lower, upper: tree + "/upper", work: tree + "/work", at: tree + "/root")
            let line = mountTable().split(separator: "\n").first { $0.contains(" \(tree)/root ") }
            #expect(line?.contains("volatile") == true, "job \(number + 1)'s mount: \(line ?? "none")")
            #expect(!FileManager.default.fileExists(atPath: tree + "/root/written.o"), "a kept tree starts empty")
            #expect(FileManager.default.createFile(atPath: tree + "/root/written.o", contents: Data("o".utf8)))
            #expect(OverlayMount.unmount(tree + "/root"))
            #expect(spares.keep(tree, user: nil), "the tree is kept for the next job")
        }
        for spare in spares.takeAll() { _ = SandboxTree.removeTree(spare) }
    }

    /// sccache's jobs mount volatile overlays; REAPI actions (over the host's root) plain ones, which placed their
    /// inputs faster on a disk.
    @Test func onlyREAPIActionsMountPlainOverlays() throws {
        let sandbox = OverlaySandbox(buildDirectory: "/nonexistent/build", bubblewrapPath: "/usr/bin/bwrap", toolchainBudget: 1 << 20)
        #expect(!sandbox.volatileOverlay(for: HostRootToolchain.toolchain.archiveID))
        #expect(sandbox.volatileOverlay(for: "0123456789abcdef"))
    }
}
