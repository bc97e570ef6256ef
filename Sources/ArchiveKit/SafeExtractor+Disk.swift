import CArchive

#if canImport(Glibc)
    import Glibc
#endif

/// The disk side of an unpack: the root, libarchive's writer and the symlink checks against what is already written.
extension SafeExtractor {
    static func resolved(_ root: String) throws -> String {
        guard let resolved = realpath(root, nil) else {
            throw ArchiveError(.io, "extraction root '\(root)' does not exist; create it first")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    func diskWriter() throws -> OpaquePointer {
        guard let writer = archive_write_disk_new() else { throw ArchiveError(.io, "libarchive could not allocate a writer") }
        // Member paths are rewritten to absolute paths under the (symlink-free) root after our own checks, so
        // libarchive's NOABSOLUTEPATHS cannot apply; its `..` check stays on as a second line. Its symlink check
        // (SECURE_SYMLINKS) does not: it opens every component of the absolute path, the root's own ancestors
        // included, for each member (~40 system calls a file, most of the unpack of a REAPI action's input root);
        // ours walk only what is under the root (``refuseSymlinkInPath``, ``removeSymlink(at:member:)``).
        let flags =
            ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT | (owner == nil ? 0 : ARCHIVE_EXTRACT_OWNER)
        archive_write_disk_set_options(writer, flags)
        return writer
    }

    /// Removes a symlink an earlier member left where `path`'s member goes, so that the member replaces it (as
    /// libarchive's secure mode does): libarchive, finding something in the way, looks at it through the link, and
    /// a directory member would get the owner, mode and times of the link's target set.
    func removeSymlink(at path: String, member: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return }
        guard unlink(path) == 0 else {
            throw ArchiveError(.io, "could not replace the symlink where member '\(member)' goes: \(String(cString: strerror(errno)))")
        }
    }

    /// Refuses a member whose parent directories (or, for hard-link targets, the target itself) are symlinks
    /// already written under the root: writing there would follow the link.
    func refuseSymlinkInPath(_ relative: String, root: String, member: String, includingLast: Bool = false) throws {
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
}
