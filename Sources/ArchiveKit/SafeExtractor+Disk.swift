import CArchive

#if canImport(Glibc)
    import Glibc
#endif

extension SafeExtractor {
    /// The extraction root with every symlink of its own path resolved: members are then placed relative to it
    /// (``RootedWriter``), and the checks never need to look above it.
    static func resolved(_ root: String) throws -> String {
        guard let resolved = realpath(root, nil) else {
            throw ArchiveError(.io, "extraction root '\(root)' does not exist; create it first")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Writes a member's place under the root; for a regular file, returns its descriptor for the data.
    func place(_ member: CheckedMember, entry: OpaquePointer, with writer: RootedWriter, now: timespec) throws -> Int32? {
        let (path, name) = (member.relative, member.rawName)
        if let target = member.hardLinkTarget {
            try writer.makeHardLink(path, to: target, member: name)
            return nil
        }
        switch member.type {
        case FileTypeBits.directory:
            try writer.makeDirectory(path, mode: member.permissions, times: Self.times(of: entry, now: now), member: name)
        case FileTypeBits.symlink:
            let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
            try writer.makeSymlink(path, target: target, times: Self.times(of: entry, now: now), member: name)
        default:
            return try writer.createFile(path, member: name)
        }
        return nil
    }

    /// A member's access and modification times; the unpack's start for one the archive does not hold (as
    /// libarchive does).
    static func times(of entry: OpaquePointer, now: timespec) -> [timespec] {
        let access =
            archive_entry_atime_is_set(entry) != 0
            ? timespec(tv_sec: archive_entry_atime(entry), tv_nsec: archive_entry_atime_nsec(entry)) : now
        let modification =
            archive_entry_mtime_is_set(entry) != 0
            ? timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry)) : now
        return [access, modification]
    }
}
