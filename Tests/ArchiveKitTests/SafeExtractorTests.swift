import ArchiveKit
import Foundation
import KilnTestSupport
import Testing

/// Archives built here, benign and hostile: the benign ones unpack in every compression and header format; the
/// hostile ones are refused with a clear error and write nothing outside the extraction root.
@Suite struct SafeExtractorTests {
    /// A scratch area with `root/` to extract into and `outside/` that must stay untouched.
    final class Scratch {
        let directory: TemporaryDirectory
        var root: String { directory.path + "/root" }
        var outside: String { directory.path + "/outside" }
        var archive: String { directory.path + "/archive.tar" }

        init() throws {
            directory = try TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/secret"))
        }

        func build(
            compression: TarArchiveWriter.Compression = .none, format: TarArchiveWriter.Format = .pax,
            _ body: (TarArchiveWriter) throws -> Void
        ) throws {
            let writer = try TarArchiveWriter(path: archive, compression: compression, format: format)
            try body(writer)
            try writer.finish()
        }

        /// Everything under the scratch directory except the root's own contents and the archive.
        func outsideListing() throws -> [String] {
            try FileManager.default.subpathsOfDirectory(atPath: directory.path)
                .filter { !$0.hasPrefix("root") && $0 != "archive.tar" }.sorted()
        }
    }

    static let longName = String(repeating: "deep-directory-name/", count: 12) + "file-with-a-long-name.c"

    @Test(arguments: [TarArchiveWriter.Compression.none, .gzip, .zstd, .xz])
    func benignArchivesUnpack(compression: TarArchiveWriter.Compression) throws {
        for format in [TarArchiveWriter.Format.gnu, .pax, .ustar] {
            let scratch = try Scratch()
            try scratch.build(compression: compression, format: format) { tar in
                try tar.addDirectory("usr/bin")
                try tar.addFile("usr/bin/gcc", contents: Array("#!/bin/sh\n".utf8), mode: 0o755)
                if format != .ustar { try tar.addFile(Self.longName, contents: [1, 2, 3]) }
                // sccache ≥ 0.7.6 toolchains: absolute symlink targets, meant to resolve inside the sandbox.
                try tar.addSymlink("lib64", target: "/usr/lib64")
                try tar.addSymlink("usr/bin/cc", target: "gcc")
            }
            let summary = try SafeExtractor(limits: .toolchain).extract(file: scratch.archive, into: scratch.root)
            #expect(summary.entries >= 4)
            let gcc = try FileManager.default.attributesOfItem(atPath: scratch.root + "/usr/bin/gcc")
            #expect((gcc[.posixPermissions] as? Int) == 0o755)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch.root + "/lib64") == "/usr/lib64")
            if format != .ustar { #expect(FileManager.default.fileExists(atPath: scratch.root + "/" + Self.longName)) }
            // The same archive held in memory (a job's inputs) unpacks to the same tree.
            let again = scratch.directory.path + "/again"
            try FileManager.default.createDirectory(atPath: again, withIntermediateDirectories: false)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.archive)))
            #expect(try SafeExtractor(limits: .toolchain).extract(bytes: bytes, into: again).entries == summary.entries)
            #expect(
                try FileManager.default.subpathsOfDirectory(atPath: again).sorted()
                    == FileManager.default.subpathsOfDirectory(atPath: scratch.root).sorted())
        }
    }

    static func expectRefused(
        _ code: ArchiveError.Code, limits: ExtractionLimits = .jobInputs,
        _ build: (TarArchiveWriter) throws -> Void
    ) throws {
        // From the archive's file, and from its bytes in memory (how a builder holds a job's small inputs).
        for fromMemory in [false, true] {
            let scratch = try Scratch()
            try scratch.build(build)
            let before = try scratch.outsideListing()
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.archive)))
            #expect(throws: ArchiveError(code, ""), fromMemory ? "from memory" : "from the file") {
                let extractor = SafeExtractor(limits: limits)
                if fromMemory {
                    try extractor.extract(bytes: bytes, into: scratch.root)
                } else {
                    try extractor.extract(file: scratch.archive, into: scratch.root)
                }
            }
            #expect(try scratch.outsideListing() == before, "something was written outside the root")
            #expect(try String(contentsOfFile: scratch.outside + "/secret", encoding: .utf8) == "secret")
        }
    }

    @Test func dotDotIsRefused() throws {
        try Self.expectRefused(.unsafePath) { try $0.addFile("../outside/evil", contents: [1]) }
        try Self.expectRefused(.unsafePath) { try $0.addFile("a/../../outside/evil", contents: [1]) }
    }

    @Test func absolutePathsAreRefused() throws {
        try Self.expectRefused(.unsafePath) { try $0.addFile("/tmp/kiln-absolute-evil", contents: [1]) }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/kiln-absolute-evil"))
    }

    @Test func writingThroughASymlinkIsRefused() throws {
        let scratch = try Scratch()
        try Self.expectRefused(.symlinkEscape) { tar in
            try tar.addSymlink("escape", target: scratch.outside)
            try tar.addFile("escape/evil", contents: [1])
        }
        try Self.expectRefused(.symlinkEscape) { tar in
            try tar.addSymlink("up", target: "../outside")
            try tar.addFile("up/secret", contents: Array("overwritten".utf8))
        }
    }

    /// A member whose own place holds a symlink the archive made replaces the link (as libarchive's secure mode
    /// does); nothing is done through it (a directory member would otherwise set the mode of the link's target).
    @Test(arguments: ["directory", "file", "hardlink"])
    func aSymlinkWhereAMemberGoesIsNotFollowed(kind: String) throws {
        let scratch = try Scratch()
        let outsideMode = try FileManager.default.attributesOfItem(atPath: scratch.outside)[.posixPermissions] as? Int
        try scratch.build { tar in
            try tar.addFile("real", contents: Array("inside".utf8))
            try tar.addSymlink("link", target: kind == "directory" ? scratch.outside : scratch.outside + "/secret")
            switch kind {
            case "directory": try tar.addDirectory("link", mode: 0o777)
            case "file": try tar.addFile("link", contents: Array("overwritten".utf8), mode: 0o777)
            default: try tar.addHardlink("link", target: "real")
            }
        }
        try SafeExtractor(limits: .jobInputs).extract(file: scratch.archive, into: scratch.root)
        let placed = try FileManager.default.attributesOfItem(atPath: scratch.root + "/link")
        let expected: FileAttributeType = kind == "directory" ? .typeDirectory : .typeRegular
        #expect(placed[.type] as? FileAttributeType == expected, "the member took the link's place")
        if kind == "file" { #expect(try String(contentsOfFile: scratch.root + "/link", encoding: .utf8) == "overwritten") }
        if kind == "hardlink" {
            #expect(
                placed[.systemFileNumber] as? Int
                    == (try FileManager.default.attributesOfItem(atPath: scratch.root + "/real")[.systemFileNumber] as? Int))
        }
        #expect(try FileManager.default.attributesOfItem(atPath: scratch.outside)[.posixPermissions] as? Int == outsideMode)
        #expect(try String(contentsOfFile: scratch.outside + "/secret", encoding: .utf8) == "secret")
        let secretMode = try FileManager.default.attributesOfItem(atPath: scratch.outside + "/secret")[.posixPermissions] as? Int
        #expect(secretMode != 0o777)
    }

    @Test func hardLinksOutsideAreRefused() throws {
        try Self.expectRefused(.unsafePath) { try $0.addHardlink("stolen", target: "../outside/secret") }
        try Self.expectRefused(.unsafePath) { try $0.addHardlink("stolen", target: "/etc/passwd") }
    }

    @Test func devicesAndFifosAreRefused() throws {
        try Self.expectRefused(.forbiddenType) { try $0.addSpecial("dev/sda", kind: .blockDevice) }
        try Self.expectRefused(.forbiddenType) { try $0.addSpecial("dev/null", kind: .characterDevice) }
        try Self.expectRefused(.forbiddenType) { try $0.addSpecial("pipe", kind: .fifo) }
    }

    @Test func bombsHitTheLimits() throws {
        let small = ExtractionLimits(maxTotalBytes: 1 << 20, maxEntries: 50)
        try Self.expectRefused(.limitExceeded, limits: small) { try $0.addZeroFile("big", size: 2 << 20) }
        try Self.expectRefused(.limitExceeded, limits: small) { tar in
            for index in 0..<60 { try tar.addFile("f\(index)", contents: [1]) }
        }
    }

    /// Modes and times as the archive has them, a read-only directory filled before it gets its mode, and members
    /// that come twice or replace a file: what each sandbox's root looks like after an unpack.
    @Test func modesTimesAndReplacedMembers() throws {
        let scratch = try Scratch()
        try scratch.build { tar in
            try tar.addDirectory("ro", mode: 0o555)
            try tar.addFile("ro/inside", contents: [1, 2], mode: 0o600)
            try tar.addFile("twice", contents: Array("first".utf8))
            try tar.addFile("twice", contents: Array("second".utf8), mode: 0o640)
            try tar.addFile("becomes-directory", contents: [1])
            try tar.addDirectory("becomes-directory", mode: 0o750)
            try tar.addFile("implicit/parents/file", contents: [3])
        }
        try SafeExtractor(limits: .jobInputs).extract(file: scratch.archive, into: scratch.root)
        func attributes(_ path: String) throws -> [FileAttributeKey: Any] {
            try FileManager.default.attributesOfItem(atPath: scratch.root + "/" + path)
        }
        #expect(try attributes("ro")[.posixPermissions] as? Int == 0o555)
        #expect(try attributes("ro/inside")[.posixPermissions] as? Int == 0o600)
        #expect(try attributes("twice")[.posixPermissions] as? Int == 0o640)
        #expect(try String(contentsOfFile: scratch.root + "/twice", encoding: .utf8) == "second")
        #expect(try attributes("becomes-directory")[.type] as? FileAttributeType == .typeDirectory)
        #expect(try attributes("becomes-directory")[.posixPermissions] as? Int == 0o750)
        #expect(try attributes("implicit/parents")[.type] as? FileAttributeType == .typeDirectory)
        for path in ["ro", "ro/inside", "twice"] {
            // TarArchiveWriter stamps every member 1_700_000_000; a directory keeps it after its contents are written.
            #expect((try attributes(path)[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_700_000_000, "\(path)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.root + "/ro")  // so the scratch goes
    }

    /// As root, every member gets the owner asked for (a job's inputs are its user's), symlinks included.
    @Test(.enabled(if: geteuid() == 0, "giving files to another user needs root"))
    func membersGetTheOwnerAskedFor() throws {
        let scratch = try Scratch()
        try scratch.build { tar in
            try tar.addDirectory("dir")
            try tar.addFile("dir/file", contents: [1])
            try tar.addSymlink("dir/link", target: "file")
        }
        try SafeExtractor(limits: .jobInputs, owner: (65532, 65533)).extract(file: scratch.archive, into: scratch.root)
        for path in ["dir", "dir/file", "dir/link"] {
            var info = stat()
            #expect(lstat(scratch.root + "/" + path, &info) == 0)
            #expect(info.st_uid == 65532 && info.st_gid == 65533, "\(path)")
        }
    }

    @Test func setuidBitsAreStripped() throws {
        let scratch = try Scratch()
        try scratch.build { try $0.addFile("bin/su", contents: [0x7F], mode: 0o4755) }
        let summary = try SafeExtractor(limits: .jobInputs).extract(file: scratch.archive, into: scratch.root)
        #expect(summary.strippedSpecialBits == 1)
        let mode = try FileManager.default.attributesOfItem(atPath: scratch.root + "/bin/su")[.posixPermissions] as? Int
        #expect(mode == 0o755)
    }

    @Test func garbageIsACorruptArchive() throws {
        let scratch = try Scratch()
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: scratch.archive))
        #expect(throws: ArchiveError.self) { try SafeExtractor(limits: .jobInputs).extract(file: scratch.archive, into: scratch.root) }
    }

    @Test func pathNormalisation() {
        #expect(ArchivePath.safeRelative("./usr//bin/./gcc") == "usr/bin/gcc")
        #expect(ArchivePath.safeRelative("tmp/") == "tmp")
        #expect(ArchivePath.safeRelative("/etc/passwd") == nil)
        #expect(ArchivePath.safeRelative("a/../b") == nil)
        #expect(ArchivePath.safeRelative("./") == nil)
    }
}
