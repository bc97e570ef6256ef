import BLAKE3

/// What an archive unpacks to, as one BLAKE3 digest: for each member in archive order its normalized path, file
/// type, permission bits as ``SafeExtractor`` writes them, link target, and the BLAKE3 of its bytes.
///
/// Left out on purpose: what the extractor does not restore or what cannot change what runs (mtimes, owners and
/// their names, the compression, header format and padding). Two archives with one digest unpack to the same tree
/// but for mtimes. That is why it identifies a toolchain better than the archive id: sccache's client stamps each
/// archive it packages with the current second (an empty `tmp` directory's mtime), so one compiler packaged twice
/// gets two archive ids but one content digest.
public struct ArchiveContentDigest: Sendable {
    private var hasher = BLAKE3Hasher()
    private var data = BLAKE3Hasher()
    private var dataBytes: UInt64 = 0
    private var member = false

    public init() { hasher.update(Array("kiln.archive-content.v1".utf8)) }

    /// Starts a member; its bytes follow with ``update(_:at:)``.
    mutating func begin(path: String, type: UInt32, permissions: UInt32, symlinkTarget: String?, hardLinkTarget: String?) {
        endMember()
        member = true
        field(Array(path.utf8))
        field(Array(String(type, radix: 8).utf8))
        field(Array(String(permissions, radix: 8).utf8))
        field(symlinkTarget.map { Array(("s" + $0).utf8) } ?? [])
        field(hardLinkTarget.map { Array(("h" + $0).utf8) } ?? [])
    }

    /// Member bytes at `offset`; a gap before it (a sparse file's hole) reads as zeros, as on disk.
    mutating func update(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        if offset > dataBytes {
            let zeros = [UInt8](repeating: 0, count: 1 << 16)
            while dataBytes < offset {
                let count = Int(min(UInt64(zeros.count), offset - dataBytes))
                zeros.withUnsafeBytes { data.update(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
                dataBytes += UInt64(count)
            }
        }
        data.update(bytes)
        dataBytes += UInt64(bytes.count)
    }

    /// The digest of every member so far.
    public mutating func finalize() -> [UInt8] {
        endMember()
        return hasher.finalize()
    }

    private mutating func endMember() {
        guard member else { return }
        field(Array(String(dataBytes).utf8))
        field(data.finalize())
        data = BLAKE3Hasher()
        dataBytes = 0
        member = false
    }

    /// A little-endian u64 length, then the bytes: no two member lists encode alike.
    private mutating func field(_ bytes: [UInt8]) {
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hasher.update($0) }
        hasher.update(bytes)
    }
}
