import Synchronization

/// Four whole chunks hashed at once, one per SIMD lane: the specification's "hash many" parallelism (§5.3).
///
/// The chunks of an input are independent until their chaining values merge, so four of them go through the
/// compression function together, word `i` of each in lane `i` of a vector. On x86-64 (SSE2) and arm64 (NEON) a
/// four-lane vector of 32-bit words is one register; on SSE2 the 32 vectors of state and message do not fit the
/// 16 registers, so this runs 1.6–1.7 times as fast as one chunk after another, not four. The digests are the
/// same, which the official vectors check.
enum ChunkBatch {
    typealias Lanes = SIMD4<UInt32>

    /// Chunks per batch.
    static let width = 4
    /// Input bytes per batch.
    static let byteCount = width * BLAKE3Compression.chunkLength

    /// Always zero, but read atomically so that the optimizer cannot know it. LLVM lowers a vector rotate on
    /// x86-64's baseline (SSE2) as four scalar rotates, which made this path slower than the scalar one; XOR-ing
    /// one half of each rotate with a value it cannot see through keeps two vector shifts and an OR instead.
    private static let opaqueZero = Atomic<UInt32>(0)

    /// Shifts by whole vectors: the concrete SIMD4 overloads compile to one vector shift each, where the
    /// vector-by-scalar ones go lane by lane.
    @inline(__always)
    static func rotr(_ x: Lanes, _ n: UInt32, _ zero: Lanes) -> Lanes {
        (x &>> Lanes(repeating: n)) | ((x &<< Lanes(repeating: 32 &- n)) ^ zero)
    }

    @inline(__always)
    static func g(
        _ a: inout Lanes, _ b: inout Lanes, _ c: inout Lanes, _ d: inout Lanes, _ x: Lanes, _ y: Lanes, _ zero: Lanes
    ) {
        a = a &+ b &+ x
        d = rotr(d ^ a, 16, zero)
        c = c &+ d
        b = rotr(b ^ c, 12, zero)
        a = a &+ b &+ y
        d = rotr(d ^ a, 8, zero)
        c = c &+ d
        b = rotr(b ^ c, 7, zero)
    }

    /// The chaining values of the four 1024-byte chunks at `input`, numbered `counter` to `counter + 3`. None of
    /// them may be the input's last chunk (the last one is finalized on its own, as it may be the root).
    static func chainingValues(of input: UnsafeRawPointer, counter: UInt64) -> [ChainingValue] {
        let iv = ChainingValue.iv
        var cv = (
            Lanes(repeating: iv.w0), Lanes(repeating: iv.w1), Lanes(repeating: iv.w2), Lanes(repeating: iv.w3),
            Lanes(repeating: iv.w4), Lanes(repeating: iv.w5), Lanes(repeating: iv.w6), Lanes(repeating: iv.w7)
        )
        let counters = SIMD4<UInt64>(counter, counter &+ 1, counter &+ 2, counter &+ 3)
        let counterLow = Lanes(truncatingIfNeeded: counters)
        let counterHigh = Lanes(truncatingIfNeeded: counters &>> 32)
        let blocks = BLAKE3Compression.chunkLength / BLAKE3Compression.blockLength
        let zero = Lanes(repeating: opaqueZero.load(ordering: .relaxed))
        for block in 0..<blocks {
            var flags: UInt32 = block == 0 ? BLAKE3Compression.chunkStart : 0
            if block == blocks - 1 { flags |= BLAKE3Compression.chunkEnd }
            cv = compress(
                cv, message: input + block &* BLAKE3Compression.blockLength, counterLow: counterLow,
                counterHigh: counterHigh, flags: flags, zero: zero)
        }
        return (0..<width).map { lane in
            ChainingValue(cv.0[lane], cv.1[lane], cv.2[lane], cv.3[lane], cv.4[lane], cv.5[lane], cv.6[lane], cv.7[lane])
        }
    }

    typealias LaneValues = (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes)

    /// One block of each chunk: lane `k` reads its 64 bytes at `message + k * 1024`.
    @inline(__always)
    static func compress(
        _ cv: LaneValues, message: UnsafeRawPointer, counterLow: Lanes, counterHigh: Lanes, flags: UInt32, zero: Lanes
    ) -> LaneValues {
        @inline(__always) func word(_ i: Int) -> Lanes {
            @inline(__always) func load(_ lane: Int) -> UInt32 {
                UInt32(
                    littleEndian: message.loadUnaligned(
                        fromByteOffset: lane &* BLAKE3Compression.chunkLength &+ i &* 4, as: UInt32.self))
            }
            return Lanes(load(0), load(1), load(2), load(3))
        }
        let m0 = word(0), m1 = word(1), m2 = word(2), m3 = word(3)
        let m4 = word(4), m5 = word(5), m6 = word(6), m7 = word(7)
        let m8 = word(8), m9 = word(9), m10 = word(10), m11 = word(11)
        let m12 = word(12), m13 = word(13), m14 = word(14), m15 = word(15)

        let iv = BLAKE3Compression.iv
        var (v0, v1, v2, v3, v4, v5, v6, v7) = cv
        var v8 = Lanes(repeating: iv.0), v9 = Lanes(repeating: iv.1)
        var v10 = Lanes(repeating: iv.2), v11 = Lanes(repeating: iv.3)
        var v12 = counterLow, v13 = counterHigh
        var v14 = Lanes(repeating: UInt32(BLAKE3Compression.blockLength)), v15 = Lanes(repeating: flags)

        @inline(__always) func round(
            _ m0: Lanes, _ m1: Lanes, _ m2: Lanes, _ m3: Lanes, _ m4: Lanes, _ m5: Lanes, _ m6: Lanes, _ m7: Lanes,
            _ m8: Lanes, _ m9: Lanes, _ m10: Lanes, _ m11: Lanes, _ m12: Lanes, _ m13: Lanes, _ m14: Lanes, _ m15: Lanes
        ) {
            g(&v0, &v4, &v8, &v12, m0, m1, zero)
            g(&v1, &v5, &v9, &v13, m2, m3, zero)
            g(&v2, &v6, &v10, &v14, m4, m5, zero)
            g(&v3, &v7, &v11, &v15, m6, m7, zero)
            g(&v0, &v5, &v10, &v15, m8, m9, zero)
            g(&v1, &v6, &v11, &v12, m10, m11, zero)
            g(&v2, &v7, &v8, &v13, m12, m13, zero)
            g(&v3, &v4, &v9, &v14, m14, m15, zero)
        }
        // The seven rounds spelled out with the specification's message schedule (each row is the one before
        // permuted), so no words move between rounds.
        round(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
        round(m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8)
        round(m3, m4, m10, m12, m13, m2, m7, m14, m6, m5, m9, m0, m11, m15, m8, m1)
        round(m10, m7, m12, m9, m14, m3, m13, m15, m4, m0, m11, m2, m5, m8, m1, m6)
        round(m12, m13, m9, m11, m15, m10, m14, m8, m7, m2, m5, m3, m0, m1, m6, m4)
        round(m9, m14, m11, m5, m8, m12, m15, m1, m13, m3, m0, m10, m2, m6, m4, m7)
        round(m11, m15, m5, m0, m1, m9, m8, m6, m14, m10, m2, m12, m3, m4, m7, m13)
        return (v0 ^ v8, v1 ^ v9, v2 ^ v10, v3 ^ v11, v4 ^ v12, v5 ^ v13, v6 ^ v14, v7 ^ v15)
    }
}
