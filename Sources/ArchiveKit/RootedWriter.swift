import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Writes archive members under a root through directory descriptors: every name is resolved one component at a
/// time from the root's descriptor with `O_NOFOLLOW`, so nothing is ever written through a symlink, and no system
/// call walks the root's own (long, often overlayfs) path again. libarchive's disk writer made some eleven calls per
/// file on absolute paths (our two `lstat` walks, and its umask pair, which changed the umask of the whole process
/// under the server's other threads); this makes six (create, write, chown, mode, times, close) on names relative
/// to a descriptor: 12-18% less time for a small-file unpack here, the rest being the filesystem's own.
///
/// A member whose place holds a symlink (or a file, for a directory member) replaces it, as libarchive's secure mode
/// does. Directories get their mode and times once everything is in them (a read-only directory must stay writable
/// while it fills). Blocking.
final class RootedWriter {
    private let root: Int32
    private let owner: (uid: UInt32, gid: UInt32)?
    /// Open directories by their path under the root ("" is the root), to resolve the next members' parents.
    private var directories: [String: Int32] = [:]
    /// Directory members' modes and times, set at the end.
    private var pending: [(path: String, mode: mode_t, times: [timespec])] = []

    init(root: String, owner: (uid: UInt32, gid: UInt32)?) throws {
        let descriptor = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ArchiveError(.io, "extraction root '\(root)' cannot be opened; create it first", cause: Self.reason()) }
        (self.root, self.owner) = (descriptor, owner)
        directories[""] = descriptor
    }

    deinit { closeDirectories(keepingRoot: false) }

    /// Creates a regular file member and returns its open descriptor, to which the data go (``write(_:to:at:)``).
    func createFile(_ path: String, member: String) throws -> Int32 {
        let (parent, name) = try parentAndName(path, member: member)
        var descriptor = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == EEXIST {
            try clear(name, in: parent, member: member)
            descriptor = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard descriptor >= 0 else { throw ArchiveError(.io, "could not create '\(member)'", cause: Self.reason()) }
        return descriptor
    }

    /// Writes a block of a file's data at `offset` (sparse archives leave holes).
    func write(_ block: UnsafeRawBufferPointer, to file: Int32, at offset: Int64) throws {
        var (rest, position) = (block, offset)
        while !rest.isEmpty {
            let written = pwrite(file, rest.baseAddress, rest.count, off_t(position))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw ArchiveError(.io, "could not write member data; check free disk space", cause: Self.reason()) }
            rest = UnsafeRawBufferPointer(rebasing: rest[written...])
            position += Int64(written)
        }
    }

    /// Closes a file whose data could not be written.
    func abandon(_ file: Int32) { close(file) }

    /// Gives a file its full size (`written` bytes of it were: a hole at its end), owner, mode and times, and
    /// closes it.
    func finishFile(_ file: Int32, size: Int64, written: Int64, mode: mode_t, times: [timespec], member: String) throws {
        defer { close(file) }
        let done =
            (written >= size || ftruncate(file, off_t(size)) == 0)
            && (owner.map { fchown(file, $0.uid, $0.gid) == 0 } ?? true) && fchmod(file, mode) == 0 && futimens(file, times) == 0
        guard done else { throw ArchiveError(.io, "could not finish '\(member)'", cause: Self.reason()) }
    }

    /// Creates (or keeps) a directory member; its mode and times are set by ``finish()``.
    func makeDirectory(_ path: String, mode: mode_t, times: [timespec], member: String) throws {
        let (parent, name) = try parentAndName(path, member: member)
        if mkdirat(parent, name, 0o700) != 0 {
            guard errno == EEXIST else { throw ArchiveError(.io, "could not create directory '\(member)'", cause: Self.reason()) }
            var info = stat()
            if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT != S_IFDIR {
                try clear(name, in: parent, member: member)
                guard mkdirat(parent, name, 0o700) == 0 else {
                    throw ArchiveError(.io, "could not create directory '\(member)'", cause: Self.reason())
                }
            }
        }
        if let owner, fchownat(parent, name, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 {
            throw ArchiveError(.io, "could not give directory '\(member)' its owner", cause: Self.reason())
        }
        pending.append((path, mode, times))
    }

    /// Creates a symlink member with its target as written: nothing here ever follows it.
    func makeSymlink(_ path: String, target: String, times: [timespec], member: String) throws {
        let (parent, name) = try parentAndName(path, member: member)
        if symlinkat(target, parent, name) != 0 {
            guard errno == EEXIST else { throw ArchiveError(.io, "could not create symlink '\(member)'", cause: Self.reason()) }
            try clear(name, in: parent, member: member)
            guard symlinkat(target, parent, name) == 0 else { throw ArchiveError(.io, "could not create symlink '\(member)'", cause: Self.reason()) }
        }
        let done =
            (owner.map { fchownat(parent, name, $0.uid, $0.gid, AT_SYMLINK_NOFOLLOW) == 0 } ?? true)
            && utimensat(parent, name, times, AT_SYMLINK_NOFOLLOW) == 0
        guard done else { throw ArchiveError(.io, "could not finish symlink '\(member)'", cause: Self.reason()) }
    }

    /// Links `path` to the already written `target`, which must not be a symlink.
    func makeHardLink(_ path: String, to target: String, member: String) throws {
        let (targetParent, targetName) = try parentAndName(target, member: member)
        var info = stat()
        if fstatat(targetParent, targetName, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK {
            throw ArchiveError(.symlinkEscape, "member '\(member)' would be written through the symlink '\(target)'")
        }
        let (parent, name) = try parentAndName(path, member: member)
        if linkat(targetParent, targetName, parent, name, 0) != 0 {
            guard errno == EEXIST else { throw ArchiveError(.io, "could not link '\(member)' to '\(target)'", cause: Self.reason()) }
            try clear(name, in: parent, member: member)
            guard linkat(targetParent, targetName, parent, name, 0) == 0 else {
                throw ArchiveError(.io, "could not link '\(member)' to '\(target)'", cause: Self.reason())
            }
        }
    }

    /// Sets the directory members' modes and times, the last written first. One a later member replaced is skipped.
    func finish() throws {
        for (path, mode, times) in pending.reversed() {
            guard let directory = try? self.directory(path, member: path) else { continue }
            guard fchmod(directory, mode) == 0, futimens(directory, times) == 0 else {
                throw ArchiveError(.io, "could not set the mode and times of directory '\(path)'", cause: Self.reason())
            }
        }
        pending.removeAll()
    }

    /// The open directory `path` (under the root), its missing components made as libarchive makes a member's
    /// missing parents (mode 0777 less the umask, the extracting user's).
    private func directory(_ path: String, member: String) throws -> Int32 {
        if let open = directories[path] { return open }
        let (parentPath, name) = Self.split(path)
        let parent = try directory(parentPath, member: member)
        var descriptor = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if descriptor < 0 && errno == ENOENT {
            guard mkdirat(parent, name, 0o777) == 0 || errno == EEXIST else {
                throw ArchiveError(.io, "could not create directory '\(path)' for member '\(member)'", cause: Self.reason())
            }
            descriptor = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard descriptor >= 0 else {
            var info = stat()
            if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK {
                throw ArchiveError(.symlinkEscape, "member '\(member)' would be written through the symlink '\(path)'")
            }
            throw ArchiveError(.io, "'\(path)' is not a directory member '\(member)' can go into", cause: Self.reason())
        }
        if directories.count > 256 { closeDirectories(keepingRoot: true) }  // a toolchain's thousands: keep a few
        directories[path] = descriptor
        return descriptor
    }

    private func parentAndName(_ path: String, member: String) throws -> (Int32, String) {
        let (parentPath, name) = Self.split(path)
        return (try directory(parentPath, member: member), name)
    }

    /// Removes what is in a member's place: a symlink, a file or an empty directory.
    private func clear(_ name: String, in parent: Int32, member: String) throws {
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        guard unlinkat(parent, name, isDirectory ? AT_REMOVEDIR : 0) == 0 else {
            throw ArchiveError(.io, "could not replace what is where member '\(member)' goes", cause: Self.reason())
        }
        if isDirectory { closeDirectories(keepingRoot: true) }  // a descriptor may name what was removed
    }

    private func closeDirectories(keepingRoot: Bool) {
        for (path, descriptor) in directories where !path.isEmpty { close(descriptor) }
        directories = keepingRoot ? ["": root] : [:]
        if !keepingRoot { close(root) }
    }

    /// "a/b/c" → ("a/b", "c"); "c" → ("", "c").
    private static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
