import ArchiveKit
import Foundation
import KilnTestSupport
import Testing

/// The docker sandbox's re-packing of job inputs (owners, directory modes, refusals) and its reading of the
/// engine's one-file archives, checked with GNU tar's own listing.
@Suite struct ContainerInputsRewriterTests {
    let directory: TemporaryDirectory
    var source: String { directory.path + "/inputs.tar" }
    var rewritten: String { directory.path + "/container.tar" }
    let rewriter = ContainerInputsRewriter(limits: ExtractionLimits(maxTotalBytes: 1 << 20, maxEntries: 100), uid: 65532, gid: 65533)

    init() throws { directory = try TemporaryDirectory(prefix: "kiln-rewrite") }

    func build(_ body: (TarArchiveWriter) throws -> Void) throws {
        let writer = try TarArchiveWriter(path: source, format: .ustar)
        try body(writer)
        try writer.finish()
    }

    /// `mode owner path` per entry, from `tar -tv --numeric-owner`.
    func listing() throws -> [String] {
        let listed = try runCommand("/bin/tar", ["--numeric-owner", "-tvf", rewritten])
        #expect(listed.status == 0, "\(listed.output)")
        return listed.output.split(separator: "\n").map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let name = fields[5...].joined(separator: " ")
            return "\(fields[0]) \(fields[1]) \(name)"
        }
    }

    @Test func directoriesAreOpenAndRootOwnedFilesBelongToTheJobUserAndSpecialBitsGo() throws {
        try build { writer in
            try writer.addFile("work/job/a.c", contents: Array("int a;\n".utf8))
            try writer.addFile("work/job/tool", contents: [0x7f], mode: 0o4755)
            try writer.addSymlink("work/job/link", target: "a.c")
            try writer.addDirectory("./work/job/include")
        }
        try rewriter.rewrite(inputs: source, to: rewritten, extraDirectories: ["work/job/out", "tmp"])
        #expect(
            try listing() == [
                "drwxrwxrwt 0/0 work/", "drwxrwxrwt 0/0 work/job/", "-rw-r--r-- 65532/65533 work/job/a.c",
                "-rwxr-xr-x 65532/65533 work/job/tool", "lrwxrwxrwx 65532/65533 work/job/link -> a.c", "drwxrwxrwt 0/0 work/job/include/",
                "drwxrwxrwt 0/0 work/job/out/", "drwxrwxrwt 0/0 tmp/",
            ])
    }

    @Test func aToolchainBecomesRootsWithClosedDirectoriesAndMayNotWriteKilnsDirectory() throws {
        let toolchain = ContainerInputsRewriter.toolchain(limits: ExtractionLimits(maxTotalBytes: 1 << 20, maxEntries: 100), reserved: [".kiln"])
        try build { writer in
            try writer.addFile("usr/bin/cc", contents: [0x7f], mode: 0o4755)
            try writer.addDirectory("etc", mode: 0o777)
        }
        try toolchain.rewrite(inputs: source, to: rewritten, extraDirectories: [])
        #expect(try listing() == ["drwxr-xr-x 0/0 usr/", "drwxr-xr-x 0/0 usr/bin/", "-rwxr-xr-x 0/0 usr/bin/cc", "drwxr-xr-x 0/0 etc/"])
        for hostile in [".kiln/busybox", "./.kiln", "bin/../.kiln/busybox"] {
            try build { try $0.addFile(hostile, contents: [1]) }
            #expect(throws: ArchiveError.self, "\(hostile)") { try toolchain.rewrite(inputs: source, to: rewritten, extraDirectories: []) }
        }
        try build { writer in
            try writer.addFile("bin/sh", contents: [1])
            try writer.addHardlink("bin/tool", target: ".kiln/busybox")
        }
        #expect(throws: ArchiveError.self) { try toolchain.rewrite(inputs: source, to: rewritten, extraDirectories: []) }
    }

    @Test(arguments: [
        ("dot-dot", ArchiveError.Code.unsafePath), ("absolute", .unsafePath), ("device", .forbiddenType), ("through-symlink", .symlinkEscape),
        ("bomb", .limitExceeded), ("hardlink-out", .unsafePath),
    ])
    func hostileInputsAreRefused(kind: String, expected: ArchiveError.Code) throws {
        try build { writer in
            switch kind {
            case "dot-dot": try writer.addFile("work/../../etc/x", contents: [1])
            case "absolute": try writer.addFile("/etc/x", contents: [1])
            case "device": try writer.addSpecial("work/null", kind: .characterDevice)
            case "through-symlink":
                try writer.addSymlink("work/etc", target: "/etc")
                try writer.addFile("work/etc/passwd", contents: [1])
            case "bomb": try writer.addZeroFile("work/big", size: 2 << 20)
            default: try writer.addHardlink("work/h", target: "../../etc/shadow")
            }
        }
        do {
            try rewriter.rewrite(inputs: source, to: rewritten, extraDirectories: [])
            Issue.record("\(kind) should be refused")
        } catch let error as ArchiveError {
            #expect(error.code == expected, "\(error)")
        }
    }

    @Test func aSingleFileArchiveGivesItsBytesAndRefusesLinksAndOversizedFiles() throws {
        let file = directory.path + "/one.tar"
        var writer = try TarArchiveWriter(path: file)
        try writer.addFile("a.o", contents: Array("object".utf8))
        try writer.finish()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(try SingleFileArchive.contents(of: bytes, limit: 100) == Array("object".utf8))
        #expect(throws: ArchiveError.self) { try SingleFileArchive.contents(of: bytes, limit: 3) }

        writer = try TarArchiveWriter(path: file)
        try writer.addSymlink("a.o", target: "/etc/passwd")
        try writer.finish()
        let link = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(throws: ArchiveError.self) { try SingleFileArchive.contents(of: link, limit: 100) }
        #expect(throws: ArchiveError.self) { try SingleFileArchive.contents(of: Array("not a tar".utf8), limit: 100) }
    }
}
