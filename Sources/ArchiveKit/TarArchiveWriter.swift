import CArchive
import KilnErrors

/// Writes tar archives with libarchive, to a file or into memory: used to build container inputs and REAPI input
/// roots and, in tests, hostile archives. Blocking: call it off the event loop.
public final class TarArchiveWriter {
    public enum Compression: Sendable { case none, gzip, zstd, xz }
    public enum Format: Sendable { case ustar, gnu, pax }
    /// Entry kinds that archives may carry but extraction refuses.
    public enum SpecialKind: Sendable { case characterDevice, blockDevice, fifo }

    let archive: OpaquePointer
    private var finished = false
    /// Where an archive written in memory goes; kept alive as long as libarchive may write to it.
    private let buffer: TarArchiveBuffer?

    /// Starts an archive written to the file at `path`.
    public init(path: String, compression: Compression = .none, format: Format = .pax) throws {
        archive = try Self.newArchive(compression: compression, format: format)
        buffer = nil
        guard archive_write_open_filename(archive, path) == ARCHIVE_OK else {
            throw ArchiveError(.io, "cannot create '\(path)'", cause: SafeExtractor.message(archive))
        }
    }

    /// Starts an uncompressed archive written into `buffer`, for archives that travel in memory anyway (a REAPI
    /// action's input root): no file to create, write, read back and delete.
    public init(into buffer: TarArchiveBuffer, format: Format = .pax) throws {
        archive = try Self.newArchive(compression: .none, format: format)
        self.buffer = buffer
        // No padding of the end to a whole 10 KiB block (a tape's): as libarchive writes a regular file.
        archive_write_set_bytes_in_last_block(archive, 1)
        let opened = archive_write_open2(
            archive, Unmanaged.passUnretained(buffer).toOpaque(), nil,
            { _, context, data, length in
                guard let context, let data else { return 0 }
                Unmanaged<TarArchiveBuffer>.fromOpaque(context).takeUnretainedValue().bytes
                    .append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
                return la_ssize_t(length)
            }, nil, nil)
        guard opened == ARCHIVE_OK else {
            throw ArchiveError(.io, "cannot start an archive in memory", cause: SafeExtractor.message(archive))
        }
    }

    private static func newArchive(compression: Compression, format: Format) throws -> OpaquePointer {
        guard let archive = archive_write_new() else { throw ArchiveError(.io, "libarchive could not allocate a writer") }
        switch format {
        case .ustar: archive_write_set_format_ustar(archive)
        case .gnu: archive_write_set_format_gnutar(archive)
        case .pax: archive_write_set_format_pax_restricted(archive)
        }
        switch compression {
        case .none: break
        case .gzip: archive_write_add_filter_gzip(archive)
        case .zstd: archive_write_add_filter_zstd(archive)
        case .xz: archive_write_add_filter_xz(archive)
        }
        return archive
    }

    deinit {
        if !finished { archive_write_close(archive) }
        archive_write_free(archive)
    }

    /// Adds a regular file; `mode` may carry setuid/setgid bits (extraction strips them).
    public func addFile(_ path: String, contents: [UInt8], mode: UInt32 = 0o644) throws {
        try add(
            path, type: FileTypeBits.regular, mode: mode, size: Int64(contents.count),
            data: {
                let written = contents.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
                guard written == contents.count else {
                    throw ArchiveError(.io, "could not write data of '\(path)'", cause: SafeExtractor.message(archive))
                }
            })
    }

    /// A regular file of `size` zero bytes, written in pieces (for size-bomb tests).
    public func addZeroFile(_ path: String, size: Int) throws {
        try add(
            path, type: FileTypeBits.regular, mode: 0o644, size: Int64(size),
            data: {
                let block = [UInt8](repeating: 0, count: 1 << 16)
                var left = size
                while left > 0 {
                    let piece = min(left, block.count)
                    _ = block.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, piece) }
                    left -= piece
                }
            })
    }

    public func addDirectory(_ path: String, mode: UInt32 = 0o755) throws {
        try add(path, type: FileTypeBits.directory, mode: mode, size: 0)
    }

    public func addSymlink(_ path: String, target: String) throws {
        try add(path, type: FileTypeBits.symlink, mode: 0o777, size: 0, configure: { archive_entry_set_symlink($0, target) })
    }

    public func addHardlink(_ path: String, target: String) throws {
        try add(path, type: FileTypeBits.regular, mode: 0o644, size: 0, configure: { archive_entry_set_hardlink($0, target) })
    }

    public func addSpecial(_ path: String, kind: SpecialKind) throws {
        let type: UInt32
        switch kind {
        case .characterDevice: type = FileTypeBits.characterDevice
        case .blockDevice: type = FileTypeBits.blockDevice
        case .fifo: type = FileTypeBits.fifo
        }
        try add(path, type: type, mode: 0o644, size: 0)
    }

    /// Writes the end-of-archive blocks and closes the file.
    public func finish() throws {
        finished = true
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw ArchiveError(.io, "could not finish the archive", cause: SafeExtractor.message(archive))
        }
    }

    /// Writes a prepared entry's header, then `data` (which writes with `archive_write_data`).
    func write(entry: OpaquePointer, data: () throws -> Void = {}) throws {
        guard archive_write_header(archive, entry) == ARCHIVE_OK else {
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? "?"
            throw ArchiveError(.io, "could not add '\(name)'", cause: SafeExtractor.message(archive))
        }
        try data()
    }

    /// Adds one entry: `configure` runs before the header is written (link targets), `data` after it.
    private func add(
        _ path: String, type: UInt32, mode: UInt32, size: Int64,
        configure: (OpaquePointer) -> Void = { _ in }, data: () throws -> Void = {}
    ) throws {
        guard let entry = archive_entry_new() else { throw ArchiveError(.io, "libarchive could not allocate an entry") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_size(entry, size)
        archive_entry_set_mtime(entry, 1_700_000_000, 0)
        configure(entry)
        try write(entry: entry, data: data)
    }
}

/// The bytes of an archive a ``TarArchiveWriter`` writes in memory: whole once the writer has finished.
public final class TarArchiveBuffer {
    public fileprivate(set) var bytes: [UInt8] = []

    public init() {}
}
