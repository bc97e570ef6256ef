import CArchive
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Unpacks tar archives (plain, gzip, zstd, xz; ustar, GNU and PAX headers) under a root directory, refusing
/// anything that could write outside it.
///
/// Refused with a clear ``ArchiveError``: absolute or `..` member paths and hard-link targets; writing through a
/// symlink (a member over a symlink replaces the link, as libarchive's secure mode does); devices, fifos and sockets; more
/// bytes or entries than ``ExtractionLimits`` allow. setuid, setgid and sticky bits are stripped, owners are not
/// restored unless ``owner`` says whose every file is. Symlinks are created verbatim, absolute targets included: they resolve inside the sandbox that mounts
/// the root as `/`, and nothing here ever follows them. Blocking: call it off the event loop.
public struct SafeExtractor: Sendable {
    public let limits: ExtractionLimits
    /// The uid and gid every unpacked file gets (the archive's owners are ignored); nil: the extracting user's.
    public let owner: (uid: UInt32, gid: UInt32)?

    public init(limits: ExtractionLimits, owner: (uid: UInt32, gid: UInt32)? = nil) {
        self.limits = limits
        self.owner = owner
    }

    /// The most a gzip archive may inflate to in memory (``WholeGzip``); a larger one is read as a stream.
    static let wholeGzipLimit = 512 << 20

    /// Unpacks the archive file at `path` into the existing directory `root`. `inflatingWhole`: a gzip archive is
    /// first inflated whole in memory (``WholeGzip``, for toolchains: megabytes, unpacked by every builder); small
    /// archives (job inputs) are streamed, where the look at the file would cost more than it saves.
    /// `digesting`: the summary also holds the ``ArchiveContentDigest`` of what was unpacked.
    @discardableResult
    public func extract(file path: String, into root: String, inflatingWhole: Bool = false, digesting: Bool = false) throws -> ExtractionSummary {
        try walk(file: path, into: root, inflatingWhole: inflatingWhole, digesting: digesting)
    }

    /// Unpacks the archive held in `bytes` (a job's inputs, kept in memory) into the existing directory `root`.
    @discardableResult
    public func extract(bytes: [UInt8], into root: String) throws -> ExtractionSummary {
        var digest: ArchiveContentDigest? = nil
        return try bytes.withUnsafeBytes { try extract(buffer: $0, into: root, digest: &digest) }
    }

    /// The ``ArchiveContentDigest`` of the archive file at `path`, which passes every check of an unpack; nothing
    /// is written.
    public func contentDigest(file path: String) throws -> [UInt8] {
        try walk(file: path, into: nil, inflatingWhole: true, digesting: true).contentDigest ?? []
    }

    private func walk(file path: String, into root: String?, inflatingWhole: Bool, digesting: Bool) throws -> ExtractionSummary {
        var digest = digesting ? ArchiveContentDigest() : nil
        if inflatingWhole,
            let summary = try WholeGzip.withInflated(
                file: path, maxOutput: min(Self.wholeGzipLimit, Int(clamping: limits.maxTotalBytes)),
                { try extract(buffer: $0, into: root, digest: &digest) })
        {
            return summary
        }
        return try withReader { reader in
            guard archive_read_open_filename(reader, path, 1 << 16) == ARCHIVE_OK else {
                throw ArchiveError(.corrupt, "'\(path)' is not a readable archive", cause: Self.message(reader))
            }
            return try extractEntries(from: reader, into: root, digest: &digest)
        }
    }

    private func extract(buffer: UnsafeRawBufferPointer, into root: String?, digest: inout ArchiveContentDigest?) throws -> ExtractionSummary {
        try withReader { reader in
            guard archive_read_open_memory(reader, buffer.baseAddress, buffer.count) == ARCHIVE_OK else {
                throw ArchiveError(.corrupt, "the bytes are not a readable archive", cause: Self.message(reader))
            }
            return try extractEntries(from: reader, into: root, digest: &digest)
        }
    }

    private func withReader<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        guard let reader = archive_read_new() else { throw ArchiveError(.io, "libarchive could not allocate a reader") }
        defer { archive_read_free(reader) }
        archive_read_support_filter_all(reader)
        archive_read_support_format_tar(reader)
        archive_read_support_format_gnutar(reader)
        return try body(reader)
    }

    private func extractEntries(from reader: OpaquePointer, into root: String?, digest: inout ArchiveContentDigest?) throws -> ExtractionSummary {
        let writer = try root.map { try RootedWriter(root: Self.resolved($0), owner: owner) }
        let now = timespec(tv_sec: time(nil), tv_nsec: 0)
        var summary = ExtractionSummary()
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(reader, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ArchiveError(.corrupt, "the archive is damaged after \(summary.entries) entries", cause: Self.message(reader))
            }
            summary.entries += 1
            guard summary.entries <= limits.maxEntries else {
                throw ArchiveError(.limitExceeded, "the archive has more than \(limits.maxEntries) entries")
            }
            guard let member = try check(entry, summary: &summary, digest: &digest) else { continue }
            guard let writer, let file = try place(member, entry: entry, with: writer, now: now) else {
                _ = try copyData(from: reader, to: nil, summary: &summary, digest: &digest)
                continue
            }
            let written: Int64
            do {
                written = try copyData(from: reader, to: (writer, file), summary: &summary, digest: &digest)
            } catch {
                writer.abandon(file)
                throw error
            }
            let size = archive_entry_size_is_set(entry) != 0 ? Int64(max(archive_entry_size(entry), 0)) : written
            try writer.finishFile(
                file, size: size, written: written, mode: member.permissions, times: Self.times(of: entry, now: now), member: member.rawName)
        }
        try writer?.finish()
        summary.contentDigest = digest?.finalize()
        return summary
    }

    /// A member that passed ``check(_:summary:digest:)``: where it goes and what it is.
    struct CheckedMember {
        let rawName: String
        let relative: String
        let type: UInt32
        let permissions: mode_t
        let hardLinkTarget: String?
    }

    /// Checks one entry against the path rules and the limits. Nil means skip it (the root itself).
    private func check(_ entry: OpaquePointer, summary: inout ExtractionSummary, digest: inout ArchiveContentDigest?) throws -> CheckedMember? {
        let member = try ArchiveMember(entry)
        guard let relative = member.relativePath else { return nil }  // "./" names the root itself
        let hardLinkTarget = try member.hardLinkTarget(entry)
        let permissions = UInt32(archive_entry_perm(entry))
        if permissions & 0o7000 != 0 { summary.strippedSpecialBits += 1 }
        digest?.begin(
            path: relative, type: member.type, permissions: permissions & 0o777,
            symlinkTarget: archive_entry_symlink(entry).map { String(cString: $0) }, hardLinkTarget: hardLinkTarget)
        if member.type == FileTypeBits.regular, archive_entry_size_is_set(entry) != 0 {
            summary.bytes += UInt64(max(archive_entry_size(entry), 0))
            guard summary.bytes <= limits.maxTotalBytes else {
                throw ArchiveError(.limitExceeded, "the archive unpacks to more than \(limits.maxTotalBytes) bytes")
            }
        }
        return CheckedMember(
            rawName: member.rawName, relative: relative, type: member.type, permissions: mode_t(permissions & 0o777),
            hardLinkTarget: hardLinkTarget)
    }

    /// Reads a member's data, checks it against the limits and writes it to `file` when there is one; returns
    /// the end of what was written.
    private func copyData(
        from reader: OpaquePointer, to file: (writer: RootedWriter, descriptor: Int32)?, summary: inout ExtractionSummary,
        digest: inout ArchiveContentDigest?
    ) throws -> Int64 {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        var end: Int64 = 0
        while true {
            let status = archive_read_data_block(reader, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return end }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                throw ArchiveError(.corrupt, "member data is damaged", cause: Self.message(reader))
            }
            guard offset >= 0, UInt64(offset) + UInt64(size) <= limits.maxTotalBytes else {
                throw ArchiveError(.limitExceeded, "a member unpacks to more than \(limits.maxTotalBytes) bytes")
            }
            let block = UnsafeRawBufferPointer(start: buffer, count: size)
            digest?.update(block, at: UInt64(offset))
            if let file, size > 0 { try file.writer.write(block, to: file.descriptor, at: Int64(offset)) }
            end = max(end, Int64(offset) + Int64(size))
        }
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "no detail from libarchive"
    }
}
