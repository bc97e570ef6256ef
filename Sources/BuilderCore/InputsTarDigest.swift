import BLAKE3

/// The BLAKE3 of a job's inputs tar, fed in pieces as it arrives, with the header fields that differ between two
/// checkouts of the same files left out: mtime, uid, gid, user and group names (and GNU atime/ctime). sccache
/// copies these from the client's files (protocol §3.2), so two CI runners compiling the same source would
/// otherwise never share a result. Names, modes, types, sizes, link targets and every data byte are covered.
///
/// The digest is over a uniquely decodable stream: each recognised header block is `H` and the block with those
/// fields zeroed, followed by its member's data (its length is in the header); an end-of-archive zero block is
/// `Z`; the first block that is not a plain ustar header with a valid checksum (pax headers, base-256 sizes,
/// garbage) turns the rest into `R` and raw bytes. So a digest collision needs equal names, modes and bytes, and
/// anything unusual only makes identical tars match, never different ones.
public struct InputsTarDigest: Sendable {
    private static let block = 512
    private var hasher = BLAKE3Hasher()
    private var header: [UInt8] = []
    /// Data bytes (with padding) of the current member still to come.
    private var dataRemaining: UInt64 = 0
    private var raw = false

    public init() { hasher.update(Array("kiln.inputs-tar.v1".utf8)) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        while !rest.isEmpty {
            if raw {
                hasher.update(UnsafeRawBufferPointer(rebasing: rest))
                return
            }
            if dataRemaining > 0 {
                let take = Int(min(UInt64(rest.count), dataRemaining))
                hasher.update(UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
                dataRemaining -= UInt64(take)
                rest = rest.dropFirst(take)
                continue
            }
            let take = min(rest.count, Self.block - header.count)
            header.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if header.count == Self.block { consumeHeader() }
        }
    }

    /// The 32-byte digest; a truncated archive (a partial block, missing data) digests as such.
    public func finalize() -> [UInt8] {
        var final = hasher
        final.update(Array("E\(dataRemaining):".utf8) + header)
        return final.finalize()
    }

    private mutating func consumeHeader() {
        defer { header.removeAll(keepingCapacity: true) }
        if header.allSatisfy({ $0 == 0 }) {
            hasher.update(Array("Z".utf8))
            return
        }
        guard let size = Self.dataSize(ofHeader: header) else {
            raw = true
            hasher.update(Array("R".utf8) + header)
            return
        }
        var canonical = header
        // mtime, checksum (validated), uid, gid, uname, gname; GNU headers keep atime and ctime at 345 and 357.
        var fields = [(136, 12), (148, 8), (108, 8), (116, 8), (265, 32), (297, 32)]
        if header[257..<265].elementsEqual(Array("ustar  \0".utf8)) { fields += [(345, 12), (357, 12)] }
        for (offset, length) in fields { canonical.replaceSubrange(offset..<offset + length, with: repeatElement(0, count: length)) }
        hasher.update(Array("H".utf8) + canonical)
        dataRemaining = (size + 511) / 512 * 512
    }

    /// The data length a plain ustar or GNU header announces; nil for anything this digest does not canonicalise.
    static func dataSize(ofHeader header: [UInt8]) -> UInt64? {
        let magic = Array(header[257..<265])
        guard magic == Array("ustar\u{0}00".utf8) || magic == Array("ustar  \u{0}".utf8) else { return nil }
        guard let stored = octal(header[148..<156]) else { return nil }
        let sum = header.enumerated().reduce(UInt64(0)) { total, element in
            total + UInt64((148..<156).contains(element.offset) ? 32 : element.element)
        }
        guard stored == sum, let size = octal(header[124..<136]) else { return nil }
        switch header[156] {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"), UInt8(ascii: "L"), UInt8(ascii: "K"): return size
        case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "5"): return size == 0 ? 0 : nil
        default: return nil
        }
    }

    /// An octal field: optional leading spaces, digits, then NULs or spaces to the end.
    static func octal(_ field: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        var ended = false
        for byte in field {
            if ended || byte == 0 || (byte == UInt8(ascii: " ") && digits > 0) {
                ended = true
                guard byte == 0 || byte == UInt8(ascii: " ") else { return nil }
                continue
            }
            if byte == UInt8(ascii: " ") { continue }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte), value < 1 << 60 else { return nil }
            value = value * 8 + UInt64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}
