import CArchive
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Unpacks tar archives (plain, gzip, zstd, xz; ustar, GNU and PAX headers) under a root directory, refusing
/// anything that could write outside it.
///
/// Refused with a clear ``ArchiveError``: absolute or `..` member paths and hard-link targets; writing through a
/// symlink (checked by us, and by libarchive's secure flags as a second line); devices, fifos and sockets; more
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
    @discardableResult
    public func extract(file path: String, into root: String, inflatingWhole: Bool = false) throws -> ExtractionSummary {
        if inflatingWhole,
            let summary = try WholeGzip.withInflated(
                file: path, maxOutput: min(Self.wholeGzipLimit, Int(clamping: limits.maxTotalBytes)), { try extract(buffer: $0, into: root) })
        {
            return summary
        }
        return try withReader { reader in
            guard archive_read_open_filename(reader, path, 1 << 16) == ARCHIVE_OK else {
                throw ArchiveError(.corrupt, "'\(path)' is not a readable archive", cause: Self.message(reader))
            }
            return try extractEntries(from: reader, into: root)
        }
    }

    private func extract(buffer: UnsafeRawBufferPointer, into root: String) throws -> ExtractionSummary {
        try withReader { reader in
            guard archive_read_open_memory(reader, buffer.baseAddress, buffer.count) == ARCHIVE_OK else {
                throw ArchiveError(.corrupt, "the bytes are not a readable archive", cause: Self.message(reader))
            }
            return try extractEntries(from: reader, into: root)
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

    private func extractEntries(from reader: OpaquePointer, into root: String) throws -> ExtractionSummary {
        guard let resolved = realpath(root, nil) else {
            throw ArchiveError(.io, "extraction root '\(root)' does not exist; create it first")
        }
        let rootPath = String(cString: resolved)
        free(resolved)
        guard let writer = archive_write_disk_new() else { throw ArchiveError(.io, "libarchive could not allocate a writer") }
        defer { archive_write_free(writer) }
        // Member paths are rewritten to absolute paths under the (symlink-free) root after our own checks, so
        // libarchive's NOABSOLUTEPATHS cannot apply; its symlink and `..` checks stay on as a second line.
        let flags =
            ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT | (owner == nil ? 0 : ARCHIVE_EXTRACT_OWNER)
        archive_write_disk_set_options(writer, flags)

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
            guard try prepare(entry, root: rootPath, summary: &summary) else { continue }
            guard archive_write_header(writer, entry) == ARCHIVE_OK else {
                let name = String(cString: archive_entry_pathname(entry))
                throw ArchiveError(.io, "could not write '\(name)'", cause: Self.message(writer))
            }
            try copyData(from: reader, to: writer, summary: &summary)
            guard archive_write_finish_entry(writer) == ARCHIVE_OK else {
                throw ArchiveError(.io, "could not finish an entry", cause: Self.message(writer))
            }
        }
        return summary
    }

    /// Checks one entry and points it under the root. False means skip it (the root itself).
    private func prepare(_ entry: OpaquePointer, root: String, summary: inout ExtractionSummary) throws -> Bool {
        let member = try ArchiveMember(entry)
        let (rawName, type) = (member.rawName, member.type)
        guard let relative = member.relativePath else { return false }  // "./" names the root itself
        try refuseSymlinkInPath(relative, root: root, member: rawName)
        archive_entry_set_pathname(entry, root + "/" + relative)
        if let safeTarget = try member.hardLinkTarget(entry) {
            try refuseSymlinkInPath(safeTarget, root: root, member: rawName, includingLast: true)
            archive_entry_set_hardlink(entry, root + "/" + safeTarget)
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
        if type == FileTypeBits.regular, archive_entry_size_is_set(entry) != 0 {
            summary.bytes += UInt64(max(archive_entry_size(entry), 0))
            guard summary.bytes <= limits.maxTotalBytes else {
                throw ArchiveError(.limitExceeded, "the archive unpacks to more than \(limits.maxTotalBytes) bytes")
            }
        }
        return true
    }

    /// Refuses a member whose parent directories (or, for hard-link targets, the target itself) are symlinks
    /// already written under the root: writing there would follow the link.
    private func refuseSymlinkInPath(_ relative: String, root: String, member: String, includingLast: Bool = false) throws {
        var components = relative.split(separator: "/")
        if !includingLast { components.removeLast() }
        var path = root
        for component in components {
            path += "/" + component
            var info = stat()
            guard lstat(path, &info) == 0 else { return }  // nothing there yet: nothing to follow
            if info.st_mode & S_IFMT == S_IFLNK {
                throw ArchiveError(.symlinkEscape, "member '\(member)' would be written through the symlink '\(path.dropFirst(root.count + 1))'")
            }
        }
    }

    private func copyData(from reader: OpaquePointer, to writer: OpaquePointer, summary: inout ExtractionSummary) throws {
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
            guard archive_write_data_block(writer, buffer, size, offset) == ARCHIVE_OK else {
                throw ArchiveError(.io, "could not write member data", cause: Self.message(writer))
            }
        }
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "no detail from libarchive"
    }
}
