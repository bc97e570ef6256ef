import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

@testable import Sandboxing

/// Finished jobs' trees kept for the next: emptied to the skeleton, never through a symlink, never one job's
/// files in another's sandbox.
@Suite struct SpareJobTreesTests {
    /// Every path under `directory`, relative, with its mode; symlinks as `-> target`.
    static func listing(_ directory: String) throws -> [String] {
        let paths = try FileManager.default.subpathsOfDirectory(atPath: directory).sorted()
        return try paths.map { path in
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/" + path)
            if attributes[.type] as? FileAttributeType == .typeSymbolicLink {
                return "\(path) -> " + (try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + path))
            }
            return "\(path) " + String((attributes[.posixPermissions] as? Int) ?? 0, radix: 8)
        }
    }

    @Test func aKeptTreeIsTheSkeletonAgainAndServesTheNextJob() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-spares")
        let spares = SpareJobTrees(in: directory.path, capacity: 1)
        try spares.make(directory.path + "/job-1", user: nil)
        let fresh = try Self.listing(directory.path + "/job-1")
        #expect(fresh.contains("upper/dev/shm 1777") && fresh.contains("upper/tmp 1777") && fresh.contains("root 755"), "\(fresh)")
        // What a job leaves: its inputs' path and outputs, a whiteout-like node, a link, overlayfs's work files,
        // a mount point opened up.
        let job = directory.path + "/job-1"
        try FileManager.default.createDirectory(atPath: job + "/upper/work/job/out", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: job + "/upper/work/job/out/a.o", contents: Data("secret".utf8))
        _ = FileManager.default.createFile(atPath: job + "/upper/dev/shm/left", contents: Data())
        try FileManager.default.createSymbolicLink(atPath: job + "/upper/etc", withDestinationPath: "/etc")
        try FileManager.default.createDirectory(atPath: job + "/work/work", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: job + "/work/work/#17", contents: Data())
        #expect(chmod(job + "/upper/tmp", 0o777) == 0)

        #expect(spares.keep(job, user: nil))
        #expect(!FileManager.default.fileExists(atPath: job), "renamed away")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("spare-") }.count == 1)
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "a link is removed, not followed")
        try spares.make(directory.path + "/job-2", user: nil)
        #expect(try Self.listing(directory.path + "/job-2") == fresh, "the next job's tree is a fresh one's, modes included")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["job-2"], "the spare was used")
    }

    @Test func aTreeWhoseMountPointIsASymlinkIsNotKeptAndNothingIsFollowed() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-spares")
        let outside = directory.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outside + "/precious", contents: Data("keep".utf8))
        let spares = SpareJobTrees(in: directory.path)
        let job = directory.path + "/job-1"
        try spares.make(job, user: nil)
        try FileManager.default.removeItem(atPath: job + "/upper/tmp")
        try FileManager.default.createSymbolicLink(atPath: job + "/upper/tmp", withDestinationPath: outside)
        #expect(!spares.keep(job, user: nil), "the caller deletes it instead")
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"))
        #expect(spares.takeAll().isEmpty)
    }

    @Test func noMoreThanTheCapacityIsKept() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-spares")
        let spares = SpareJobTrees(in: directory.path, capacity: 2)
        for index in 0..<3 { try spares.make(directory.path + "/job-\(index)", user: nil) }
        #expect((0..<3).map { spares.keep(directory.path + "/job-\($0)", user: nil) } == [true, true, false])
        #expect(spares.takeAll().count == 2)
        #expect(spares.takeAll().isEmpty, "taken once")
    }

    /// Through the real sandbox: the next jobs run in trees an earlier job wrote in, and see none of it.
    @Test func aJobNeverSeesWhatAnEarlierJobWroteInItsTree() async throws {
        let fixture = try await OverlaySandboxTests.Fixture()
        // Where a job's user may write: its working directory (/tmp and /dev/shm are mounts of the job's own).
        let leak = "mkdir -p sub/deeper && echo secret > sub/deeper/s && echo x > top.o && busybox chmod 000 sub"
        let probe = "for f in /work/job/sub /work/job/top.o; do if test -e $f; then echo $f; fi; done; ls -A /work/job"
        for round in 0..<6 {
            let written = try await fixture.sandbox.run(try fixture.jobs.job(leak, id: UInt64(2 * round)))
            #expect(written.output.code == 0, "\(String(decoding: written.output.stderr, as: UTF8.self))")
            await fixture.sandbox.settle()
            let seen = try await fixture.sandbox.run(try fixture.jobs.job(probe, id: UInt64(2 * round + 1)))
            #expect(String(decoding: seen.output.stdout, as: UTF8.self) == "", "round \(round)")
            await fixture.sandbox.settle()
        }
        try await fixture.finish()
    }
}
