import Foundation
import KilnTestSupport
import Testing

@testable import BuilderService

/// A job's inputs stay in memory while small, and go whole to the spool file once they pass the limit.
@Suite struct InputsSpoolTests {
    static func pieces(_ count: Int, of size: Int) -> [[UInt8]] {
        (0..<count).map { piece in (0..<size).map { UInt8(truncatingIfNeeded: piece * 7 + $0) } }
    }

    @Test func smallInputsNeverTouchTheDisk() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-spool")
        let spool = InputsSpool(path: directory.path + "/inputs.tar", memoryLimit: 100)
        let pieces = Self.pieces(2, of: 50)
        for piece in pieces { try piece.withUnsafeBytes { try spool.write($0) } }
        #expect(try spool.finish() == pieces.flatMap { $0 })
        #expect(!FileManager.default.fileExists(atPath: spool.path))
    }

    @Test func largeInputsGoWholeToTheFile() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-spool")
        let spool = InputsSpool(path: directory.path + "/inputs.tar", memoryLimit: 100)
        let pieces = Self.pieces(4, of: 60)
        for piece in pieces { try piece.withUnsafeBytes { try spool.write($0) } }
        #expect(try spool.finish() == nil)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: spool.path))) == pieces.flatMap { $0 })
    }
}
