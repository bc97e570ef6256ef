import BuilderCore
import Testing

@Suite struct InputsTarDigestTests {
    /// One ustar member: name, mode, owner and mtime as a client's files would have them.
    struct Member {
        var name = "build/src/a.c"
        var mode = 0o644
        var uid = 1000
        var gid = 1000
        var owner = "runner"
        var mtime = 1_700_000_000
        var type = UInt8(ascii: "0")
        var data: [UInt8] = Array("int main(void) { return 0; }\n".utf8)
        var gnu = false

        var bytes: [UInt8] {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, at offset: Int) { header.replaceSubrange(offset..<offset + text.utf8.count, with: Array(text.utf8)) }
            func octal(_ value: Int, at offset: Int, width: Int) {
                put(String(repeating: "0", count: width - 1 - String(value, radix: 8).count) + String(value, radix: 8), at: offset)
            }
            put(name, at: 0)
            octal(mode, at: 100, width: 8)
            octal(uid, at: 108, width: 8)
            octal(gid, at: 116, width: 8)
            octal(data.count, at: 124, width: 12)
            octal(mtime, at: 136, width: 12)
            header[156] = type
            put(gnu ? "ustar  \0" : "ustar\u{0}00", at: 257)
            put(owner, at: 265)
            put(owner, at: 297)
            put("        ", at: 148)
            let sum = header.reduce(0) { $0 + Int($1) }
            octal(sum, at: 148, width: 7)
            let padding = (512 - data.count % 512) % 512
            return header + data + [UInt8](repeating: 0, count: padding)
        }
    }

    static func tar(_ members: [Member], trailer: Bool = true) -> [UInt8] {
        members.flatMap(\.bytes) + (trailer ? [UInt8](repeating: 0, count: 1024) : [])
    }

    static func digest(_ bytes: [UInt8], pieces: Int = 1) -> [UInt8] {
        var digest = InputsTarDigest()
        let size = max(1, bytes.count / pieces + 1)
        for start in stride(from: 0, to: bytes.count, by: size) {
            bytes[start..<min(bytes.count, start + size)].withUnsafeBytes { digest.update($0) }
        }
        return digest.finalize()
    }

    @Test func ownersAndTimesDoNotCountButEverythingElseDoes() {
        let base = Self.digest(Self.tar([Member(), Member(name: "build/src/b.h", data: Array("#define B 1\n".utf8))]))
        var elsewhere = Member()
        (elsewhere.uid, elsewhere.gid, elsewhere.owner, elsewhere.mtime) = (1001, 50, "ci", 1_800_000_000)
        let moved = Self.tar([elsewhere, Member(name: "build/src/b.h", mtime: 5, data: Array("#define B 1\n".utf8))])
        #expect(Self.digest(moved) == base, "another checkout of the same files, by another user")
        #expect(Self.digest(moved, pieces: 97) == base, "the digest does not depend on how the bytes arrive")

        let changes: [(String, (inout Member) -> Void)] = [
            ("content", { $0.data[4] = UInt8(ascii: "X") }),
            ("name", { $0.name = "build/src/c.c" }),
            ("mode", { $0.mode = 0o755 }),
            ("length", { $0.data += [10] }),
            ("type", { $0.type = UInt8(ascii: "7") }),
        ]
        for (name, change) in changes {
            var member = Member()
            change(&member)
            let changed = Self.tar([member, Member(name: "build/src/b.h", data: Array("#define B 1\n".utf8))])
            #expect(Self.digest(changed) != base, "a different \(name) must change the digest")
        }
        #expect(Self.digest(Self.tar([Member()])) != base, "a missing member changes it")
        #expect(Self.digest(Self.tar([Member()], trailer: false)) != Self.digest(Self.tar([Member()])), "so does a missing trailer")
    }

    @Test func gnuHeadersAreCanonicalisedToo() {
        var a = Member(gnu: true)
        var b = Member(gnu: true)
        (a.mtime, b.mtime, b.uid) = (1, 2, 3)
        #expect(Self.digest(Self.tar([a])) == Self.digest(Self.tar([b])))
        #expect(Self.digest(Self.tar([a])) != Self.digest(Self.tar([Member(mtime: 1)])), "GNU and POSIX headers differ")
    }

    @Test func anythingUnrecognisedIsHashedAsItIs() {
        var badChecksum = Member().bytes
        badChecksum[136] ^= 1
        var other = badChecksum
        other[137] ^= 1
        #expect(Self.digest(badChecksum) != Self.digest(other), "after a header with a wrong checksum every byte counts")
        var pax = Member(type: UInt8(ascii: "x"))
        pax.data = Array("30 mtime=1700000000.123456789\n".utf8)
        var pax2 = pax
        pax2.data = Array("30 mtime=1800000000.123456789\n".utf8)
        #expect(Self.digest(Self.tar([pax, Member()])) != Self.digest(Self.tar([pax2, Member()])), "pax records are not interpreted")
    }
}
