import Testing

@testable import ArchiveKit

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

    /// The scheduler sends a REAPI action's inputs stored (level 0): still a zlib stream that inflates back, and
    /// no smaller than what it carries (nothing was compressed).
    @Test func aStoredStreamInflatesBack() throws {
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 97) }
        let stored = try ZlibDeflate.compress(data, level: 0)
        #expect(stored.count > data.count && stored.count < data.count + 100)
        #expect(try ZlibDeflate.decompress(stored, maxOutput: 300_000) == data)
        #expect(try ZlibDeflate.compress(data, level: 1).count < data.count / 10, "level 1 does compress this")
    }

    /// zlib counts in 32 bits; buffers of 4 GiB and more go through it in pieces. The same code with tiny pieces
    /// must give a stream that inflates back to the input, piece by piece too.
    @Test(arguments: [1, 7, 4096]) func buffersGoThroughZlibInPieces(chunk: Int) throws {
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let compressed = try ZlibDeflate.compress(data, level: 1, chunk: chunk)
        #expect(try ZlibDeflate.decompress(compressed, maxOutput: 1 << 20) == data)
        let inflater = try ZlibInflater(maxOutput: 1 << 20)
        var inflated: [UInt8] = []
        try compressed.withUnsafeBytes { try inflater.inflate($0, chunk: chunk) { inflated.append(contentsOf: $0) } }
        #expect(inflated == data && inflater.isFinished)
        #expect(try ZlibDeflate.compress([], level: 1, chunk: chunk).count > 0, "an empty input is still a whole stream")
    }

    /// Outputs are compressed as they are read: pieces of any size added to one deflater make the same stream
    /// as the whole buffer compressed at once.
    @Test(arguments: [1, 1000, 1 << 20]) func aDeflaterFedInPiecesMakesTheWholeStream(piece: Int) throws {
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 251 == 0 ? $0 >> 3 : 0) }
        let deflater = try ZlibDeflater(level: 1)
        try data.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let end = min(all.count, offset + piece)
                try deflater.add(UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                offset = end
            }
        }
        let streamed = try deflater.finish()
        #expect(streamed == (try ZlibDeflate.compress(data)))
        #expect(try ZlibDeflate.decompress(streamed, maxOutput: 1 << 20) == data)
        #expect(throws: ArchiveError.self) { try deflater.finish() }
    }
}
