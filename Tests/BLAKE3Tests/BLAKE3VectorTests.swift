import BLAKE3
import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

/// The official test vectors, hash mode: every listed length, default and extended output.
@Suite struct BLAKE3VectorTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let length: Int
        let extendedHex: String
        var testDescription: String { "\(length) bytes" }
    }

    static let vectors: [Vector] = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Resources/blake3-hash-vectors.txt")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let length = Int(parts[0]) else { return nil }
            return Vector(length: length, extendedHex: String(parts[1]))
        }
    }()

    static func input(_ length: Int) -> [UInt8] { (0..<length).map { UInt8($0 % 251) } }

    @Test func vectorFileIsComplete() {
        #expect(Self.vectors.count == 22)
        #expect(Self.vectors.map(\.length).contains(102_400))
    }

    @Test(arguments: vectors)
    func defaultHash(_ vector: Vector) {
        let digest = BLAKE3Hasher.hash(Self.input(vector.length))
        #expect(DigestHex.standard(digest) == String(vector.extendedHex.prefix(64)))
    }

    @Test(arguments: vectors)
    func extendedOutput(_ vector: Vector) {
        var hasher = BLAKE3Hasher()
        hasher.update(Self.input(vector.length))
        #expect(DigestHex.standard(hasher.finalize(outputLength: 131)) == vector.extendedHex)
    }

    /// Streaming must not depend on how the input is cut.
    /// Pieces above 4096 bytes take the four-chunk path, from chunk boundaries at every position of a batch.
    @Test(arguments: [1, 7, 63, 64, 65, 1000, 1024, 1025, 4096, 4097, 5120, 9000, 31_744])
    func streamingInPieces(_ piece: Int) {
        let input = Self.input(31_744)
        var hasher = BLAKE3Hasher()
        var start = 0
        while start < input.count {
            hasher.update(Array(input[start..<min(start + piece, input.count)]))
            start += piece
        }
        #expect(hasher.finalize() == BLAKE3Hasher.hash(input))
    }

    @Test func sccacheHexSwapsNibbles() {
        // protocol §8.2: the same digest renders as a805e8f7… in standard hex and 8a508e7f… in sccache's hex
        let digest: [UInt8] = [0xa8, 0x05, 0xe8, 0xf7, 0x21, 0x12, 0x35, 0xf0]
        #expect(DigestHex.standard(digest) == "a805e8f7211235f0")
        #expect(DigestHex.sccache(digest) == "8a508e7f1221530f")
    }
}
