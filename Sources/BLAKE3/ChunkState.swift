/// The state of the 1024-byte chunk being hashed (BLAKE3 specification §2.4).
struct ChunkState: Sendable {
    private(set) var chunkCounter: UInt64
    private var cv = ChainingValue.iv
    /// The last block seen so far, kept back until more input shows whether it ends the chunk.
    private var block = BlockBuffer()
    private var blockLength = 0
    private var blocksCompressed = 0

    init(chunkCounter: UInt64) {
        self.chunkCounter = chunkCounter
    }

    var length: Int { blocksCompressed * BLAKE3Compression.blockLength + blockLength }

    private var startFlag: UInt32 { blocksCompressed == 0 ? BLAKE3Compression.chunkStart : 0 }

    mutating func update(_ input: UnsafeRawBufferPointer) {
        guard var pointer = input.baseAddress else { return }
        var remaining = input.count
        while remaining > 0 {
            if blockLength == BLAKE3Compression.blockLength {
                var full = block
                let flags = startFlag
                full.withPointer { compressBlock($0, flags: flags) }
                blockLength = 0
            }
            // Fast path: whole blocks straight from the input, as long as more input follows them.
            while blockLength == 0 && remaining > BLAKE3Compression.blockLength {
                compressBlock(UnsafeRawPointer(pointer), flags: startFlag)
                pointer += BLAKE3Compression.blockLength
                remaining -= BLAKE3Compression.blockLength
            }
            let take = min(BLAKE3Compression.blockLength - blockLength, remaining)
            block.copy(from: UnsafeRawPointer(pointer), count: take, at: blockLength)
            blockLength += take
            pointer += take
            remaining -= take
        }
    }

    private mutating func compressBlock(_ pointer: UnsafeRawPointer, flags: UInt32) {
        let (low, _) = BLAKE3Compression.compress(
            cv: cv, block: pointer, counter: chunkCounter,
            blockLength: UInt32(BLAKE3Compression.blockLength), flags: flags
        )
        cv = low
        blocksCompressed += 1
    }

    func output() -> Output {
        var padded = block
        padded.zero(from: blockLength)
        return Output(
            inputCV: cv, block: padded, counter: chunkCounter, blockLength: UInt32(blockLength),
            flags: startFlag | BLAKE3Compression.chunkEnd
        )
    }
}

/// A 64-byte block held by value.
struct BlockBuffer: Sendable {
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

    mutating func withPointer<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        withUnsafeBytes(of: &storage) { body($0.baseAddress.unsafelyUnwrapped) }
    }

    mutating func copy(from source: UnsafeRawPointer, count: Int, at offset: Int) {
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.baseAddress.unsafelyUnwrapped.advanced(by: offset).copyMemory(from: source, byteCount: count)
        }
    }

    mutating func zero(from offset: Int) {
        withUnsafeMutableBytes(of: &storage) { raw in
            for index in offset..<64 { raw[index] = 0 }
        }
    }
}
