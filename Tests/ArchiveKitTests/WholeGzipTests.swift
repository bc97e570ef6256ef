import Foundation
import KilnTestSupport
import Testing

@testable import ArchiveKit

/// ``WholeGzip`` inflates a plain single-member gzip to exactly what gzip(1) does, and leaves every other file to
/// libarchive's stream (nil), which still unpacks the good ones and refuses the damaged ones.
@Suite struct WholeGzipTests {
    /// A gzip tar written by libarchive (as sccache's are written by flate2), and gzip(1)'s inflate of it.
    static func archive(in directory: TemporaryDirectory) throws -> (gzip: String, tar: [UInt8]) {
        let path = directory.path + "/toolchain.tar.gz"
        let writer = try TarArchiveWriter(path: path, compression: .gzip, format: .gnu)
        try writer.addDirectory("usr/bin")
        try writer.addFile("usr/bin/gcc", contents: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7 / 3) }, mode: 0o755)
        try writer.finish()
        let inflated = directory.path + "/by-gzip.tar"
        let gzip = try runToCompletion("/bin/sh", ["-c", "/bin/gzip -dc '\(path)' > '\(inflated)'"])
        try #require(gzip.status == 0, "gzip -dc failed: \(gzip.output)")
        return (path, Array(try Data(contentsOf: URL(fileURLWithPath: inflated))))
    }

    @Test func aGzipTarInflatesToWhatGzipMakesOfItAndUnpacks() throws {
        let directory = try TemporaryDirectory()
        let (gzip, tar) = try Self.archive(in: directory)
        #expect(WholeGzip.inflate(file: gzip, maxOutput: 1 << 30) == tar)
        let root = directory.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(try SafeExtractor(limits: .toolchain).extract(file: gzip, into: root).entries == 2)
        #expect(FileManager.default.contents(atPath: root + "/usr/bin/gcc")?.count == 300_000)
    }

    @Test func anythingElseIsLeftToTheStream() throws {
        let directory = try TemporaryDirectory()
        let (gzip, tar) = try Self.archive(in: directory)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: gzip)))
        func file(_ name: String, _ contents: [UInt8]) throws -> String {
            let path = directory.path + "/" + name
            try Data(contents).write(to: URL(fileURLWithPath: path))
            return path
        }
        #expect(WholeGzip.inflate(file: try file("plain.tar", tar), maxOutput: 1 << 30) == nil, "not gzip")
        #expect(WholeGzip.inflate(file: gzip, maxOutput: tar.count - 1) == nil, "larger than allowed")
        #expect(WholeGzip.inflate(file: try file("two.tar.gz", bytes + bytes), maxOutput: 1 << 30) == nil, "two members")
        var understated = bytes
        understated[bytes.count - 4] &-= 1  // the trailer claims one byte less than inflates
        #expect(WholeGzip.inflate(file: try file("short.tar.gz", understated), maxOutput: 1 << 30) == nil)
        let truncated = try file("truncated.tar.gz", Array(bytes.prefix(bytes.count / 2)) + Array(bytes.suffix(8)))
        #expect(WholeGzip.inflate(file: truncated, maxOutput: 1 << 30) == nil)
        let root = directory.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(throws: ArchiveError.self, "the stream refuses the damaged archive") {
            try SafeExtractor(limits: .toolchain).extract(file: truncated, into: root)
        }
    }
}
