import CArchive
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Re-packs a job's inputs tar for a container engine that unpacks it as root (Docker's `PUT /archive`), so the
/// job can then run as an unprivileged user; or (``toolchain(limits:reserved:)``) a toolchain archive, with the
/// same checks, every entry root's and none under a reserved top-level directory (Kiln's own `/.kiln`).
///
/// Every directory (those in the archive, every missing parent, and the `extraDirectories` the job needs, such
/// as its cwd) becomes a root-owned `1777` entry: the job's user may create its outputs anywhere in them, and a
/// directory that already exists in the image with those bits (`/tmp`) keeps them. Files and links belong to the
/// job's user. Refused, as by ``SafeExtractor``: absolute or `..` paths, devices, fifos and sockets, a member
/// written through a symlink of the same archive, and more bytes or entries than the limits allow. setuid,
/// setgid and sticky bits of files are stripped. Blocking: call it off the event loop.
public struct ContainerInputsRewriter: Sendable {
    public let limits: ExtractionLimits
    public let uid: Int
    public let gid: Int
    /// Top-level names no entry may have, or be below.
    public let reserved: Set<String>
    /// The mode of every directory: `1777` for a job's inputs, `755` for a toolchain (which no job may change).
    let directoryMode: mode_t

    public init(limits: ExtractionLimits, uid: Int, gid: Int) {
        (self.limits, self.uid, self.gid, reserved, directoryMode) = (limits, uid, gid, [], 0o1777)
    }

    private init(limits: ExtractionLimits, reserved: Set<String>) {
        (self.limits, uid, gid, self.reserved, directoryMode) = (limits, 0, 0, reserved, 0o755)
    }

    /// A toolchain archive for the engine to unpack as the image's files: root's, directories `755`, nothing below
    /// the `reserved` top-level names.
    public static func toolchain(limits: ExtractionLimits, reserved: Set<String>) -> ContainerInputsRewriter {
        ContainerInputsRewriter(limits: limits, reserved: reserved)
    }

    /// Reads the tar at `inputs` and writes the container's tar to `output`. `extraDirectories` are relative paths.
    @discardableResult
    public func rewrite(inputs: String, to output: String, extraDirectories: [String]) throws -> ExtractionSummary {
        guard let reader = archive_read_new() else { throw ArchiveError(.io, "libarchive could not allocate a reader") }
        defer { archive_read_free(reader) }
        archive_read_support_filter_all(reader)
        archive_read_support_format_tar(reader)
        archive_read_support_format_gnutar(reader)
        guard archive_read_open_filename(reader, inputs, 1 << 16) == ARCHIVE_OK else {
            throw ArchiveError(.corrupt, "'\(inputs)' is not a readable archive", cause: SafeExtractor.message(reader))
        }
        let writer = try TarArchiveWriter(path: output)
        var state = RewriteState()
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(reader, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ArchiveError(.corrupt, "the archive is damaged after \(state.summary.entries) entries", cause: SafeExtractor.message(reader))
            }
            state.summary.entries += 1
            guard state.summary.entries <= limits.maxEntries else {
                throw ArchiveError(.limitExceeded, "the archive has more than \(limits.maxEntries) entries")
            }
            try copy(entry, from: reader, to: writer, state: &state)
        }
        for directory in extraDirectories {
            guard let relative = ArchivePath.safeRelative(directory) else { continue }
            try state.refuseSymlink(in: relative, member: directory, includingLast: true)
            try writeDirectories(upTo: relative, to: writer, state: &state)
        }
        try writer.finish()
        return state.summary
    }

    private func copy(_ entry: OpaquePointer, from reader: OpaquePointer, to writer: TarArchiveWriter, state: inout RewriteState) throws {
        let member = try ArchiveMember(entry)
        let (rawName, type) = (member.rawName, member.type)
        guard let relative = member.relativePath else { return }  // "./" names the root itself
        try refuseReserved(relative, member: rawName)
        try state.refuseSymlink(in: relative, member: rawName, includingLast: false)
        if type == FileTypeBits.directory {
            try writeDirectories(upTo: relative, to: writer, state: &state)
            return
        }
        if let slash = relative.lastIndex(of: "/") {
            try writeDirectories(upTo: String(relative[..<slash]), to: writer, state: &state)
        }
        if let safeTarget = try member.hardLinkTarget(entry) {
            try refuseReserved(safeTarget, member: rawName)
            try state.refuseSymlink(in: safeTarget, member: rawName, includingLast: true)
            archive_entry_set_hardlink(entry, safeTarget)
        }
        if type == FileTypeBits.symlink { state.symlinks.insert(relative) }
        archive_entry_set_pathname(entry, relative)
        archive_entry_set_uid(entry, la_int64_t(uid))
        archive_entry_set_gid(entry, la_int64_t(gid))
        archive_entry_set_uname(entry, nil)
        archive_entry_set_gname(entry, nil)
        let permissions = UInt32(archive_entry_perm(entry))
        if permissions & 0o7000 != 0 {
            state.summary.strippedSpecialBits += 1
            archive_entry_set_perm(entry, mode_t(permissions & 0o777))
        }
        try writer.write(entry: entry) { try copyData(from: reader, to: writer.archive, summary: &state.summary) }
    }

    private func refuseReserved(_ relative: String, member: String) throws {
        if let top = relative.split(separator: "/").first, reserved.contains(String(top)) {
            throw ArchiveError(.unsafePath, "'\(member)' is below '/\(top)', which belongs to Kiln and no archive may write")
        }
    }

    /// Writes `path` and each of its missing parents as root-owned directories (``directoryMode``).
    private func writeDirectories(upTo path: String, to writer: TarArchiveWriter, state: inout RewriteState) throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            guard state.directories.insert(prefix).inserted else { continue }
            guard let entry = archive_entry_new() else { throw ArchiveError(.io, "libarchive could not allocate an entry") }
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, prefix)
            archive_entry_set_filetype(entry, FileTypeBits.directory)
            archive_entry_set_perm(entry, directoryMode)
            archive_entry_set_mtime(entry, 1_700_000_000, 0)
            try writer.write(entry: entry)
        }
    }

    private func copyData(from reader: OpaquePointer, to archive: OpaquePointer, summary: inout ExtractionSummary) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { archive_read_data(reader, $0.baseAddress, $0.count) }
            if count == 0 { return }
            guard count > 0 else { throw ArchiveError(.corrupt, "member data is damaged", cause: SafeExtractor.message(reader)) }
            summary.bytes += UInt64(count)
            guard summary.bytes <= limits.maxTotalBytes else {
                throw ArchiveError(.limitExceeded, "the archive unpacks to more than \(limits.maxTotalBytes) bytes")
            }
            let written = buffer.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, count) }
            guard written == count else { throw ArchiveError(.io, "could not write member data", cause: SafeExtractor.message(archive)) }
        }
    }
}

/// What the rewrite has seen so far.
private struct RewriteState {
    var summary = ExtractionSummary()
    var directories: Set<String> = []
    var symlinks: Set<String> = []

    /// Refuses a path that goes through a symlink written earlier in the same archive.
    func refuseSymlink(in relative: String, member: String, includingLast: Bool) throws {
        var components = relative.split(separator: "/")
        if !includingLast { components.removeLast() }
        var prefix = ""
        for component in components {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            if symlinks.contains(prefix) {
                throw ArchiveError(.symlinkEscape, "'\(member)' would be written through the symlink '\(prefix)'")
            }
        }
    }
}
