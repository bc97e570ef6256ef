import BLAKE3
import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

/// Agreement with Debian's `b3sum` on real files, hashed by streaming with a fixed 64 KiB buffer.
@Suite struct BLAKE3FileTests {
    static func hashFile(_ path: String) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var hasher = BLAKE3Hasher()
        while let data = try handle.read(upToCount: 1 << 16), !data.isEmpty {
            data.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }

    @Test(
        .enabled(if: which("b3sum") != nil, "b3sum is not installed (apt-get install b3sum; scripts/test does)"),
        arguments: [0, 1024, 1 << 20, 100 << 20])
    func agreesWithB3sum(size: Int) async throws {
        let b3sum = try #require(which("b3sum"))
        let (expected, actual) = try await OwnThread.run { try Self.digests(size: size, b3sum: b3sum) }
        #expect(expected.count == 64)
        #expect(actual == expected)
    }

    /// b3sum's digest and ours of a generated file of `size` bytes (100 MiB takes seconds in a debug build).
    static func digests(size: Int, b3sum: String) throws -> (expected: String, actual: String) {
        let directory = try TemporaryDirectory()
        // Deterministic but not periodic at any power of two: a 64-bit LCG's high bytes.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(size)
        var bytes = [UInt8](repeating: 0, count: size)
        for index in bytes.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes[index] = UInt8(truncatingIfNeeded: state >> 56)
        }
        let path = try directory.write("input.bin", bytes)
        let expected = try runCommand(b3sum, ["--no-names", path]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        return (expected, DigestHex.standard(try hashFile(path)))
    }
}
