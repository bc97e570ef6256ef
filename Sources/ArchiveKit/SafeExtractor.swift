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
        let rootPath = try root.map(Self.resolved)
        let writer = try rootPath.map { _ in try diskWriter() }
        defer { if let writer { archive_write_free(writer) } }
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
            guard try prepare(entry, root: rootPath, summary: &summary, digest: &digest) else { continue }
            if let writer, archive_write_header(writer, entry) != ARCHIVE_OK {
                let name = String(cString: archive_entry_pathname(entry))
                throw ArchiveError(.io, "could not write '\(name)'", cause: Self.message(writer))
            }
            try copyData(from: reader, to: writer, summary: &summary, digest: &digest)
            if let writer, archive_write_finish_entry(writer) != ARCHIVE_OK {
                throw ArchiveError(.io, "could not finish an entry", cause: Self.message(writer))
            }
        }
        summary.contentDigest = digest?.finalize()
        return summary
    }

    /// Checks one entry and, given a root, points it there. False means skip it (the root itself).
    private func prepare(_ entry: OpaquePointer, root: String?, summary: inout ExtractionSummary, digest: inout ArchiveContentDigest?) throws -> Bool
    {
        let member = try ArchiveMember(entry)
        let (rawName, type) = (member.rawName, member.type)
        guard let relative = member.relativePath else { return false }  // "./" names the root itself
        let hardLinkTarget = try member.hardLinkTarget(entry)
        if let root {
            try refuseSymlinkInPath(relative, root: root, member: rawName)
            try removeSymlink(at: root + "/" + relative, member: rawName)
            archive_entry_set_pathname(entry, root + "/" + relative)
            if let hardLinkTarget {
                try refuseSymlinkInPath(hardLinkTarget, root: root, member: rawName, includingLast: true)
                archive_entry_set_hardlink(entry, root + "/" + hardLinkTarget)
            }
        }
        if let owner {
            archive_entry_set_uid(entry, la_int64_t(owner.uid))
            archive_entry_set_gid(entry, la_int64_t(owner.gid))
            archive_entry_set_uname(entry, nil)
            archive_entry_set_gname(entry, nil)
        }
        let permissions = UInt32(archive_entry_perm(entry))
        if permissions & 0o7000 != 0 {
            summary.strippedSpecialBits += 1
            archive_entry_set_perm(entry, mode_t(permissions & 0o777))
        }
        digest?.begin(
            path: relative, type: type, permissions: permissions & 0o777,
            symlinkTarget: archive_entry_symlink(entry).map { String(cString: $0) }, hardLinkTarget: hardLinkTarget)
        if type == FileTypeBits.regular, archive_entry_size_is_set(entry) != 0 {
            summary.bytes += UInt64(max(archive_entry_size(entry), 0))
            guard summary.bytes <= limits.maxTotalBytes else {
                throw ArchiveError(.limitExceeded, "the archive unpacks to more than \(limits.maxTotalBytes) bytes")
            }
        }
        return true
    }

    private func copyData(
        from reader: OpaquePointer, to writer: OpaquePointer?, summary: inout ExtractionSummary, digest: inout ArchiveContentDigest?
    ) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let status = archive_read_data_block(reader, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                throw ArchiveError(.corrupt, "member data is damaged", cause: Self.message(reader))
            }
            guard offset >= 0, UInt64(offset) + UInt64(size) <= limits.maxTotalBytes else {
                throw ArchiveError(.limitExceeded, "a member unpacks to more than \(limits.maxTotalBytes) bytes")
            }
            digest?.update(UnsafeRawBufferPointer(start: buffer, count: size), at: UInt64(offset))
            if let writer, archive_write_data_block(writer, buffer, size, offset) != ARCHIVE_OK {
                throw ArchiveError(.io, "could not write member data", cause: Self.message(writer))
            }
        }
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "no detail from libarchive"
    }
}
