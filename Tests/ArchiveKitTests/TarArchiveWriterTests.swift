import ArchiveKit
import Foundation
import KilnTestSupport
import Testing

@Suite struct TarArchiveWriterTests {
    static func entries(_ tar: TarArchiveWriter) throws {
        try tar.addDirectory("work/src")
        try tar.addFile("work/src/a.c", contents: Array("int a;\n".utf8))
        try tar.addFile("work/run.sh", contents: Array(repeating: 0x41, count: 70_000), mode: 0o755)
        try tar.addSymlink("work/link", target: "src/a.c")
    }

    /// A REAPI input root is written in memory: the same bytes as the same entries written to a file, and an
    /// archive that unpacks.
    @Test func anArchiveInMemoryIsTheArchiveInAFile() throws {
        let scratch = try TemporaryDirectory()
        let file = try TarArchiveWriter(path: scratch.path + "/file.tar")
        try Self.entries(file)
        try file.finish()
        let buffer = TarArchiveBuffer()
        let memory = try TarArchiveWriter(into: buffer)
        try Self.entries(memory)
        try memory.finish()
        let written = Array(try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/file.tar")))
        #expect(buffer.bytes == written)
        try Data(buffer.bytes).write(to: URL(fileURLWithPath: scratch.path + "/memory.tar"))
        try FileManager.default.createDirectory(atPath: scratch.path + "/root", withIntermediateDirectories: false)
        try SafeExtractor(limits: .jobInputs).extract(file: scratch.path + "/memory.tar", into: scratch.path + "/root")
        #expect(try String(contentsOfFile: scratch.path + "/root/work/link", encoding: .utf8) == "int a;\n")
    }
}
