import ArchiveKit
import BLAKE3
import BuilderCore
import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

@Suite struct HostRootToolchainTests {
    /// The archive unpacks, through the same checks as any toolchain, into the root REAPI actions need: mount
    /// points for the host's /usr and the input root, and the merged-/usr links.
    @Test func unpacksIntoAnEmptyRootWithMergedUsrLinks() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-hostroot")
        let archive = directory.path + "/root.tar"
        try Data(HostRootToolchain.archive).write(to: URL(fileURLWithPath: archive))
        let files = FileManager.default
        try files.createDirectory(atPath: directory.path + "/root", withIntermediateDirectories: true)
        _ = try SafeExtractor(limits: .toolchain).extract(file: archive, into: directory.path + "/root")
        for mountPoint in ["usr", "tmp", "work"] {
            var isDirectory: ObjCBool = false
            #expect(files.fileExists(atPath: "\(directory.path)/root/\(mountPoint)", isDirectory: &isDirectory) && isDirectory.boolValue)
        }
        for link in ["bin", "lib", "lib64", "sbin"] {
            #expect(try files.destinationOfSymbolicLink(atPath: "\(directory.path)/root/\(link)") == "usr/\(link)")
        }
        #expect(try files.contentsOfDirectory(atPath: directory.path + "/root").sorted() == ["bin", "lib", "lib64", "sbin", "tmp", "usr", "work"])
    }

    /// Builders tell REAPI actions by this id: it is the BLAKE3 of bytes written here, the same on every machine.
    @Test func itsIDIsTheHashOfItsOwnBytes() {
        var hasher = BLAKE3Hasher()
        hasher.update(HostRootToolchain.archive)
        #expect(HostRootToolchain.toolchain.archiveID == DigestHex.sccache(hasher.finalize()))
        #expect(HostRootToolchain.toolchain.isWellFormed)
        #expect(HostRootToolchain.archive.count == 512 * 9, "seven headers and the two closing blocks")
    }
}
