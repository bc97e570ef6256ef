import CArchive
import KilnErrors

/// Reads the one regular file of a tar held in memory: what Docker's `GET /containers/{id}/archive` returns for
/// a file path. A symlink (which Docker archives as the link itself) or any other kind of entry is refused, so
/// nothing is ever read through a link. Blocking only on memory.
public enum SingleFileArchive {
    /// The file's bytes. Throws ``ArchiveError`` when the archive's first entry is not a regular file, or the
    /// file is larger than `limit`.
    public static func contents(of tar: [UInt8], limit: Int) throws -> [UInt8] {
        guard let reader = archive_read_new() else { throw ArchiveError(.io, "libarchive could not allocate a reader") }
        defer { archive_read_free(reader) }
        archive_read_support_format_tar(reader)
        archive_read_support_format_gnutar(reader)
        return try tar.withUnsafeBytes { raw in
            guard archive_read_open_memory(reader, raw.baseAddress, raw.count) == ARCHIVE_OK else {
                throw ArchiveError(.corrupt, "the answer is not a tar archive", cause: SafeExtractor.message(reader))
            }
            var entry: OpaquePointer?
            guard archive_read_next_header(reader, &entry) == ARCHIVE_OK, let entry else {
                throw ArchiveError(.corrupt, "the archive has no entry", cause: SafeExtractor.message(reader))
            }
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? "?"
            let type = UInt32(archive_entry_filetype(entry))
            guard type == FileTypeBits.regular, archive_entry_hardlink(entry) == nil else {
                let kind = type == FileTypeBits.symlink ? "a symlink" : "not a regular file"
                throw ArchiveError(.symlinkEscape, "'\(name)' is \(kind); only regular files are returned")
            }
            let size = archive_entry_size(entry)
            guard size >= 0, size <= limit else {
                throw ArchiveError(.limitExceeded, "'\(name)' has \(size) bytes, more than the limit of \(limit)")
            }
            var bytes = [UInt8](repeating: 0, count: Int(size))
            var filled = 0
            while filled < bytes.count {
                let count = bytes.withUnsafeMutableBytes { buffer in
                    buffer.baseAddress.map { archive_read_data(reader, $0 + filled, buffer.count - filled) } ?? -1
                }
                guard count > 0 else { throw ArchiveError(.corrupt, "'\(name)' is truncated", cause: SafeExtractor.message(reader)) }
                filled += count
            }
            return bytes
        }
    }
}
