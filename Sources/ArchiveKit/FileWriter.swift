import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Appends bytes to a new file as they arrive (toolchain uploads, spooled job inputs), so large bodies never sit
/// whole in memory. The file is closed on ``close()`` or when the writer goes away.
public final class FileWriter {
    public let path: String
    private var descriptor: Int32

    /// Creates (or truncates) the file at `path`; `mode` is for a new file (less the umask).
    public init(path: String, mode: mode_t = 0o600) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw ArchiveError(.io, "cannot create '\(path)'; check the directory exists and is writable", cause: Self.errorText())
        }
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            guard descriptor >= 0 else { throw ArchiveError(.io, "'\(path)' is already closed") }
            let written = Glibc.write(descriptor, rest.baseAddress, rest.count)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw ArchiveError(.io, "writing '\(path)' failed; check free disk space", cause: Self.errorText()) }
            rest = UnsafeRawBufferPointer(rebasing: rest[written...])
        }
    }

    /// Forces what was written to the disk (`fsync`), so that a power cut after a later rename cannot leave a
    /// file that has its name but not its bytes.
    public func synchronize() throws {
        guard descriptor >= 0 else { throw ArchiveError(.io, "'\(path)' is already closed") }
        guard fsync(descriptor) == 0 else { throw ArchiveError(.io, "syncing '\(path)' to disk failed", cause: Self.errorText()) }
    }

    public func close() throws {
        guard descriptor >= 0 else { return }
        let closed = Glibc.close(descriptor) == 0
        descriptor = -1
        guard closed else { throw ArchiveError(.io, "closing '\(path)' failed", cause: Self.errorText()) }
    }

    /// Closes the file if open and deletes it.
    public func remove() {
        try? close()
        unlink(path)
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }
}
