import Foundation
import KilnTestSupport
import Testing

/// Why a loop-mounted file system cannot be made here, or nil.
let missingLoopFilesystemTools: String? = ["/sbin/mkfs.ext4", "/usr/bin/fallocate", "/bin/mount", "/bin/umount"].first {
    !FileManager.default.isExecutableFile(atPath: $0)
}.map { "\($0) is missing (Debian's e2fsprogs, util-linux, mount)" }

/// Issue 20, item 6: the builder's `cache_dir` runs out of space (a small loop-mounted ext4 filled up). Every
/// compile still succeeds with gcc's own object (on the farm or locally), the builder stays up, nothing torn is
/// cached, and once space returns the builder serves again.
@Suite(.serialized, .requires(Binaries.missingPrerequisite ?? missingLoopFilesystemTools)) struct DiskFullEndToEndTests {

    /// A 1 GiB ext4 file system (sparse, no blocks reserved for root: the builder is root) mounted over `directory`,
    /// unmounted when it goes.
    final class LoopFilesystem {
        let directory: String
        let image: String
        var filler: String { directory + "/filler" }

        init(at directory: String, image: String) throws {
            self.directory = directory
            self.image = image
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (tool, arguments) in [
                ("/usr/bin/truncate", ["-s", "1G", image]), ("/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", image]),
                ("/bin/mount", ["-o", "loop", image, directory]),
            ] {
                let result = try runToCompletion(tool, arguments)
                guard result.status == 0 else { throw TestFailure("\(tool) \(arguments): \(result.output)") }
            }
        }

        deinit {
            _ = try? runToCompletion("/bin/umount", ["-l", directory])
            unlink(image)
        }

        /// Fills the file system up to its last few KiB.
        func fill() throws {
            var stats = statvfs()
            guard statvfs(directory, &stats) == 0 else { throw TestFailure("statvfs \(directory)") }
            let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
            let result = try runToCompletion("/usr/bin/fallocate", ["-l", "\(free + (try filledBytes()) - 64 * 1024)", filler])
            guard result.status == 0 else { throw TestFailure("fallocate: \(result.output)") }
        }

        private func filledBytes() throws -> UInt64 {
            (try? FileManager.default.attributesOfItem(atPath: filler)[.size] as? UInt64) ?? 0
        }

        func makeRoom() { unlink(filler) }

        var freeBytes: UInt64 {
            var stats = statvfs()
            return statvfs(directory, &stats) == 0 ? UInt64(stats.f_bavail) * UInt64(stats.f_frsize) : 0
        }
    }

    static func compile(_ client: SccacheClient, _ unit: String, in work: String, salt: Int) throws -> (status: Int32, matches: Bool) {
        _ = try Sources.write(unit, in: work, salt: salt)
        let remote = try client.gcc(["-O1", "-c", "\(unit).c", "-o", "\(unit).o"], in: work)
        let local = try runToCompletion("/usr/bin/gcc", ["-O1", "-c", "\(unit).c", "-o", "\(unit).local"], directory: work)
        let object = FileManager.default.contents(atPath: "\(work)/\(unit).o")
        return (remote.status, local.status == 0 && object != nil && object == FileManager.default.contents(atPath: "\(work)/\(unit).local"))
    }

    @Test func aFullCacheDirFailsCleanlyAndRecovers() throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        let port = freePort()
        let disk = try LoopFilesystem(at: "\(farm.root)/kiln-builder-\(port)/cache", image: "\(farm.root)/cache.img")
        try disk.fill()
        let builder = try farm.startKilnBuilder(port: port)
        try farm.waitForServers(1)
        let work = "\(farm.root)/diskfull"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "diskfull")
        try client.start()

        // Full: the toolchain cannot be stored. The compile falls back to a local one and the builder stays up.
        let full = try Self.compile(client, "full", in: work, salt: 1)
        #expect(full.status == 0 && full.matches, "the compile succeeded with gcc's own object")
        #expect(try client.stats().total == 0, "nothing could be distributed")
        #expect(builder.isRunning, "the builder survives a full disk\n\(farm.logs)")
        let complaints = builder.log.split(separator: "\n").filter { $0.contains("No space left") || $0.contains("ENOSPC") }
        print("DiskFullEndToEndTests: the builder said\n" + complaints.prefix(3).map { "  " + $0.prefix(400) }.joined(separator: "\n"))
        #expect(!complaints.isEmpty, "the builder's log names the full disk")

        // Space returns: the same builder takes the toolchain and distributes.
        disk.makeRoom()
        let roomy = try Self.compile(client, "roomy", in: work, salt: 2)
        #expect(roomy.status == 0 && roomy.matches)
        #expect(try client.stats().total == 1, "distributed once space returned\n\(farm.logs)")

        // Full again with the toolchain in place: inputs, outputs and results meet a full disk mid-job.
        try disk.fill()
        for index in 0..<3 {
            let again = try Self.compile(client, "again\(index)", in: work, salt: 10 + index)
            #expect(again.status == 0 && again.matches, "compile \(index) on a full disk")
        }
        #expect(builder.isRunning)
        disk.makeRoom()
        print("DiskFullEndToEndTests: \(try client.stats()) with the disk full twice; \(disk.freeBytes >> 20) MiB free after")

        // Nothing torn was cached: a second runner (its own client cache empty) gets gcc's own objects for the same
        // units, from the builder's result cache or a new compile.
        let second = try SccacheClient(farm: farm, version: "0.4.0", name: "diskfull-second")
        try second.start()
        for (index, unit) in ["roomy", "again0", "again1", "again2"].enumerated() {
            let salt = index == 0 ? 2 : 10 + index - 1
            let repeated = try Self.compile(second, unit, in: work, salt: salt)
            #expect(repeated.status == 0 && repeated.matches, "\(unit) again, from a second runner")
        }
        #expect(try second.stats().total == 4, "the recovered builder serves every unit\n\(farm.logs)")
        #expect(builder.isRunning)
    }
}
