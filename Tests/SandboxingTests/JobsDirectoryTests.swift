import Foundation
import KilnTestSupport
import Testing

@testable import Sandboxing

/// The jobs' directory under `jobs_dir` (a base anyone may write in) is the builder's own before a job uses it.
@Suite struct JobsDirectoryTests {
    @Test func eachBuildDirectoryHasADirectoryOfItsOwn() {
        let one = JobsDirectory.path(in: "/dev/shm/", for: "/var/lib/kiln/build")
        #expect(one.hasPrefix("/dev/shm/kiln-jobs-") && one.count == "/dev/shm/kiln-jobs-".count + 16)
        #expect(one == JobsDirectory.path(in: "/dev/shm", for: "/var/lib/kiln/build"), "the same on every start")
        #expect(one != JobsDirectory.path(in: "/dev/shm", for: "/var/lib/kiln/build2"))
    }

    @Test func aSymlinkOrAnotherUsersDirectoryIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-jobs-claim")
        let own = directory.path + "/own"
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
        try JobsDirectory.claim(own)
        let mode = try FileManager.default.attributesOfItem(atPath: own)[.posixPermissions] as? Int
        #expect(mode == 0o755, "nobody else may add to it")

        let link = directory.path + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: own)
        #expect(throws: SandboxError.self) { try JobsDirectory.claim(link) }

        guard geteuid() == 0 else { return }  // only root can give a directory away
        let others = directory.path + "/others"
        try FileManager.default.createDirectory(atPath: others, withIntermediateDirectories: false)
        #expect(chown(others, 65532, 65532) == 0)
        #expect(throws: SandboxError.self) { try JobsDirectory.claim(others) }
    }
}
