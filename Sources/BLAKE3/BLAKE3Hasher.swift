/// A streaming BLAKE3 hasher (default hash mode), written from the BLAKE3 specification.
///
/// Memory is constant whatever the input length: one 64-byte block buffer and a stack of at most 54 chaining
/// values. Feed bytes with ``update(_:)`` in pieces of any size, then call ``finalize()`` or
/// ``finalize(outputLength:)`` for extended output.
public struct BLAKE3Hasher: Sendable {
    private var chunk = ChunkState(chunkCounter: 0)
    /// Chaining values of completed subtrees, merged lazily as in the specification's reference implementation.
    private var stack: [ChainingValue] = []

    public init() {
        stack.reserveCapacity(54)
    }

    /// Hashes `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = BLAKE3Hasher()
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    /// Adds `bytes` to the input.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes of `buffer` to the input.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard var pointer = buffer.baseAddress else { return }
        var remaining = buffer.count
        while remaining > 0 {
            if chunk.length == BLAKE3Compression.chunkLength {
                let cv = chunk.output().chainingValue()
                let totalChunks = chunk.chunkCounter + 1
                addChunkChainingValue(cv, totalChunks: totalChunks)
                chunk = ChunkState(chunkCounter: totalChunks)
            }
            // Whole chunks four at a time, as long as more input follows them (the last chunk may be the root).
            while chunk.length == 0 && remaining > ChunkBatch.byteCount {
                let first = chunk.chunkCounter
                for (offset, cv) in ChunkBatch.chainingValues(of: UnsafeRawPointer(pointer), counter: first).enumerated() {
                    addChunkChainingValue(cv, totalChunks: first + UInt64(offset) + 1)
                }
                chunk = ChunkState(chunkCounter: first + UInt64(ChunkBatch.width))
                pointer += ChunkBatch.byteCount
                remaining -= ChunkBatch.byteCount
            }
            let take = min(BLAKE3Compression.chunkLength - chunk.length, remaining)
            chunk.update(UnsafeRawBufferPointer(start: pointer, count: take))
            pointer += take
            remaining -= take
        }
    }

    /// The 32-byte hash of everything added so far. The hasher can keep taking input afterwards.
    public func finalize() -> [UInt8] {
        finalize(outputLength: 32)
    }

    /// `outputLength` bytes of extended output (the first 32 are the ordinary hash).
    public func finalize(outputLength: Int) -> [UInt8] {
        var output = chunk.output()
        for cv in stack.reversed() {
            output = Output.parent(left: cv, right: output.chainingValue())
        }
        return output.rootBytes(count: outputLength)
    }

    private mutating func addChunkChainingValue(_ newCV: ChainingValue, totalChunks: UInt64) {
        var cv = newCV
        var total = totalChunks
        // Each trailing zero bit of the chunk count marks a completed subtree whose two halves can merge now.
        while total & 1 == 0 {
            cv = Output.parent(left: stack.removeLast(), right: cv).chainingValue()
            total >>= 1
        }
        stack.append(cv)
    }
}
