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
        #expect(WholeGzip.withInflated(file: gzip, maxOutput: 1 << 30, { Array($0) }) == tar)
        let root = directory.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(try SafeExtractor(limits: .toolchain).extract(file: gzip, into: root, inflatingWhole: true).entries == 2)
        #expect(FileManager.default.contents(atPath: root + "/usr/bin/gcc")?.count == 300_000)
        let streamed = directory.path + "/streamed"
        try FileManager.default.createDirectory(atPath: streamed, withIntermediateDirectories: true)
        #expect(try SafeExtractor(limits: .toolchain).extract(file: gzip, into: streamed).entries == 2, "unless asked, it is streamed")
        #expect(FileManager.default.contents(atPath: streamed + "/usr/bin/gcc") == FileManager.default.contents(atPath: root + "/usr/bin/gcc"))
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
        #expect(WholeGzip.withInflated(file: try file("plain.tar", tar), maxOutput: 1 << 30, { Array($0) }) == nil, "not gzip")
        #expect(WholeGzip.withInflated(file: gzip, maxOutput: tar.count - 1, { Array($0) }) == nil, "larger than allowed")
        #expect(WholeGzip.withInflated(file: try file("two.tar.gz", bytes + bytes), maxOutput: 1 << 30, { Array($0) }) == nil, "two members")
        var understated = bytes
        understated[bytes.count - 4] &-= 1  // the trailer claims one byte less than inflates
        #expect(WholeGzip.withInflated(file: try file("short.tar.gz", understated), maxOutput: 1 << 30, { Array($0) }) == nil)
        let truncated = try file("truncated.tar.gz", Array(bytes.prefix(bytes.count / 2)) + Array(bytes.suffix(8)))
        #expect(WholeGzip.withInflated(file: truncated, maxOutput: 1 << 30, { Array($0) }) == nil)
        let root = directory.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(throws: ArchiveError.self, "the stream refuses the damaged archive") {
            try SafeExtractor(limits: .toolchain).extract(file: truncated, into: root, inflatingWhole: true)
        }
    }
}
