import ArchiveKit
import Testing

@Suite struct ZlibTests {
    @Test func roundTripAndBound() throws {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 97) }
        let compressed = try ZlibDeflate.compress(data)
        #expect(Array(compressed.prefix(2)) == [0x78, 0x01])  // level 1, as sccache's Compression::fast()
        #expect(try ZlibDeflate.decompress(compressed, maxOutput: 100_000) == data)
        #expect(throws: ArchiveError(.limitExceeded, "")) { try ZlibDeflate.decompress(compressed, maxOutput: 99_999) }
        #expect(throws: ArchiveError.self) { try ZlibDeflate.decompress(Array(compressed.prefix(20)), maxOutput: 1 << 20) }
        var damaged = compressed
        damaged[10] ^= 0xFF
        #expect(throws: ArchiveError.self) { try ZlibDeflate.decompress(damaged, maxOutput: 1 << 20) }
    }
}
