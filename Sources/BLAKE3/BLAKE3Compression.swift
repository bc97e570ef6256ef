/// The BLAKE3 compression function and its constants (BLAKE3 specification §2.1–2.2).
///
/// Written for speed on scalar hardware: the 16 state words and 16 message words live in local variables, the
/// seven rounds are unrolled, and the message permutation is applied by renaming instead of by copying arrays.
enum BLAKE3Compression {
    static let iv: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A, 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19
    )

    static let chunkStart: UInt32 = 1 << 0
    static let chunkEnd: UInt32 = 1 << 1
    static let parent: UInt32 = 1 << 2
    static let root: UInt32 = 1 << 3

    static let blockLength = 64
    static let chunkLength = 1024

    @inline(__always)
    static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &>> n) | (x &<< (32 &- n)) }

    @inline(__always)
    static func g(
        _ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32, _ x: UInt32, _ y: UInt32
    ) {
        a = a &+ b &+ x
        d = rotr(d ^ a, 16)
        c = c &+ d
        b = rotr(b ^ c, 12)
        a = a &+ b &+ y
        d = rotr(d ^ a, 8)
        c = c &+ d
        b = rotr(b ^ c, 7)
    }

    /// Compresses one 64-byte block read from `block` (little-endian words) into the full 16-word output.
    @inline(__always)
    static func compress(
        cv: ChainingValue, block: UnsafeRawPointer, counter: UInt64, blockLength: UInt32, flags: UInt32
    ) -> (ChainingValue, ChainingValue) {
        @inline(__always) func word(_ i: Int) -> UInt32 {
            UInt32(littleEndian: block.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
        }
        var m0 = word(0), m1 = word(1), m2 = word(2), m3 = word(3)
        var m4 = word(4), m5 = word(5), m6 = word(6), m7 = word(7)
        var m8 = word(8), m9 = word(9), m10 = word(10), m11 = word(11)
        var m12 = word(12), m13 = word(13), m14 = word(14), m15 = word(15)

        var v0 = cv.w0, v1 = cv.w1, v2 = cv.w2, v3 = cv.w3
        var v4 = cv.w4, v5 = cv.w5, v6 = cv.w6, v7 = cv.w7
        var v8 = iv.0, v9 = iv.1, v10 = iv.2, v11 = iv.3
        var v12 = UInt32(truncatingIfNeeded: counter), v13 = UInt32(truncatingIfNeeded: counter >> 32)
        var v14 = blockLength, v15 = flags

        for round in 0..<7 {
            g(&v0, &v4, &v8, &v12, m0, m1)
            g(&v1, &v5, &v9, &v13, m2, m3)
            g(&v2, &v6, &v10, &v14, m4, m5)
            g(&v3, &v7, &v11, &v15, m6, m7)
            g(&v0, &v5, &v10, &v15, m8, m9)
            g(&v1, &v6, &v11, &v12, m10, m11)
            g(&v2, &v7, &v8, &v13, m12, m13)
            g(&v3, &v4, &v9, &v14, m14, m15)
            if round == 6 { break }
            // The specification's permutation: new[i] = old[P[i]], P = 2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8.
            (m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15) =
                (m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8)
        }
        let low = ChainingValue(v0 ^ v8, v1 ^ v9, v2 ^ v10, v3 ^ v11, v4 ^ v12, v5 ^ v13, v6 ^ v14, v7 ^ v15)
        let high = ChainingValue(
            v8 ^ cv.w0, v9 ^ cv.w1, v10 ^ cv.w2, v11 ^ cv.w3, v12 ^ cv.w4, v13 ^ cv.w5, v14 ^ cv.w6, v15 ^ cv.w7
        )
        return (low, high)
    }
}

/// Eight 32-bit words: a chaining value, or half of a compression output.
struct ChainingValue: Equatable {
    var w0, w1, w2, w3, w4, w5, w6, w7: UInt32

    init(_ w0: UInt32, _ w1: UInt32, _ w2: UInt32, _ w3: UInt32, _ w4: UInt32, _ w5: UInt32, _ w6: UInt32, _ w7: UInt32) {
        (self.w0, self.w1, self.w2, self.w3, self.w4, self.w5, self.w6, self.w7) = (w0, w1, w2, w3, w4, w5, w6, w7)
    }

    static var iv: ChainingValue {
        let v = BLAKE3Compression.iv
        return ChainingValue(v.0, v.1, v.2, v.3, v.4, v.5, v.6, v.7)
    }

    /// The 32 little-endian bytes of the eight words, in order.
    var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3, w4, w5, w6, w7] {
            out.append(UInt8(truncatingIfNeeded: w))
            out.append(UInt8(truncatingIfNeeded: w >> 8))
            out.append(UInt8(truncatingIfNeeded: w >> 16))
            out.append(UInt8(truncatingIfNeeded: w >> 24))
        }
        return out
    }

    /// Stores the eight words little-endian at `pointer`.
    func store(to pointer: UnsafeMutableRawPointer) {
        for (index, word) in [w0, w1, w2, w3, w4, w5, w6, w7].enumerated() {
            pointer.storeBytes(of: word.littleEndian, toByteOffset: index * 4, as: UInt32.self)
        }
    }

    /// Lays the two chaining values out as the 64-byte block of a parent node.
    static func withParentBlock<R>(_ left: ChainingValue, _ right: ChainingValue, _ body: (UnsafeRawPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 4) { buffer in
            let base = UnsafeMutableRawPointer(buffer.baseAddress.unsafelyUnwrapped)
            left.store(to: base)
            right.store(to: base + 32)
            return body(UnsafeRawPointer(base))
        }
    }
}
