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

    /// An action that names a container image gets a toolchain of its own, a tar any reader unpacks (the image's
    /// name in one member), and builders read the image back from its bytes; nothing else passes for an action root.
    @Test func aContainerImageIsAToolchainOfItsOwnAndReadsBack() throws {
        let image = "registry.example/team/gcc:12@sha256:" + String(repeating: "ab", count: 32)
        let archive = HostRootToolchain.archive(containerImage: image)
        #expect(HostRootToolchain.toolchain(containerImage: image) != HostRootToolchain.toolchain)
        #expect(HostRootToolchain.toolchain(containerImage: image) != HostRootToolchain.toolchain(containerImage: "debian:12"))
        #expect(HostRootToolchain.actionRoot(of: archive) == ActionRoot(containerImage: image))
        #expect(HostRootToolchain.actionRoot(of: HostRootToolchain.archive) == ActionRoot(containerImage: nil))
        #expect(archive.count % 512 == 0)

        let directory = try TemporaryDirectory(prefix: "kiln-hostroot")
        let path = directory.path + "/root.tar"
        try Data(archive).write(to: URL(fileURLWithPath: path))
        #expect(HostRootToolchain.actionRoot(ofArchiveAt: path) == ActionRoot(containerImage: image))
        try FileManager.default.createDirectory(atPath: directory.path + "/root", withIntermediateDirectories: true)
        _ = try SafeExtractor(limits: .toolchain).extract(file: path, into: directory.path + "/root")
        #expect(try String(contentsOfFile: directory.path + "/root/kiln-container-image", encoding: .utf8) == image)

        var altered = archive
        altered[512 * 7] ^= 0x20  // the member's name: not the image member any more
        #expect(HostRootToolchain.actionRoot(of: altered) == nil)
        #expect(HostRootToolchain.actionRoot(of: Array(archive.dropLast(512))) == nil)
        #expect(HostRootToolchain.actionRoot(of: [UInt8](repeating: 0, count: 4096)) == nil)
        try Data([UInt8](repeating: 7, count: 20 << 10)).write(to: URL(fileURLWithPath: path))
        #expect(HostRootToolchain.actionRoot(ofArchiveAt: path) == nil, "a toolchain of real size is not read")
    }
}
