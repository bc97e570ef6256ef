/// A compression input held back until it is known whether it is the root (BLAKE3 specification §2.5–2.6).
struct Output: Sendable {
    var inputCV: ChainingValue
    var block: BlockBuffer
    var counter: UInt64
    var blockLength: UInt32
    var flags: UInt32

    static func parent(left: ChainingValue, right: ChainingValue) -> Output {
        var block = BlockBuffer()
        ChainingValue.withParentBlock(left, right) { block.copy(from: $0, count: 64, at: 0) }
        return Output(inputCV: .iv, block: block, counter: 0, blockLength: 64, flags: BLAKE3Compression.parent)
    }

    func chainingValue() -> ChainingValue {
        let cv = inputCV
        var block = self.block
        let (counter, length, flags) = (self.counter, blockLength, self.flags)
        return block.withPointer { pointer in
            BLAKE3Compression.compress(cv: cv, block: pointer, counter: counter, blockLength: length, flags: flags).0
        }
    }

    /// Extended output: the root block compressed with counters 0, 1, 2, … , 64 bytes each.
    func rootBytes(count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        var block = self.block
        var outputCounter: UInt64 = 0
        while out.count < count {
            let cv = inputCV
            let (length, flags) = (blockLength, self.flags | BLAKE3Compression.root)
            let (low, high) = block.withPointer { pointer in
                BLAKE3Compression.compress(cv: cv, block: pointer, counter: outputCounter, blockLength: length, flags: flags)
            }
            out.append(contentsOf: (low.bytes + high.bytes).prefix(count - out.count))
            outputCounter += 1
        }
        return out
    }
}
