#if canImport(Glibc)
    import Glibc
#endif

/// Removes trees inside a sandbox root by descriptor (`openat`/`unlinkat`, never following a symlink), so neither
/// a hostile symlink nor a path longer than `PATH_MAX` can make the server delete outside the root or fail.
enum SandboxTree {
    /// Removes the file or directory tree at `components` under `root`; true when it is gone (or was never there).
    /// False when a directory on the way is not a plain directory, or something could not be removed.
    static func remove(_ components: [String], under root: String) -> Bool {
        guard let name = components.last, name != "..", name != "." else { return false }
        var parent = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return false }
        defer { close(parent) }
        for directory in components.dropLast() {
            let next = openat(parent, directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 { return errno == ENOENT }
            close(parent)
            parent = next
        }
        return removeEntry(name, in: parent)
    }

    /// True when `path` under `root` is a directory reached without following a symlink.
    static func isPlainDirectory(_ components: [String], under root: String) -> Bool {
        var descriptor = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        for name in components {
            let next = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return false }
            close(descriptor)
            descriptor = next
        }
        return true
    }

    /// Depth-first with one directory open at a time (a descendant is left for its parent through `..`, and its
    /// name is kept): a tree of any depth costs neither a path longer than `PATH_MAX` nor a descriptor per level.
    /// Nothing else may change the tree meanwhile (the job's processes are gone).
    private static func removeEntry(_ name: String, in parent: Int32) -> Bool {
        if unlinkat(parent, name, 0) == 0 || errno == ENOENT { return true }
        guard errno == EISDIR || errno == EPERM else { return false }
        var current = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard current >= 0 else { return false }
        var names: [String] = []  // below `name`, the path of `current`
        while true {
            guard let child = emptyOfFiles(current) else {
                close(current)
                return false
            }
            if let child {
                let next = openat(current, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                close(current)
                guard next >= 0 else { return false }
                current = next
                names.append(child)
                continue
            }
            guard let emptied = names.popLast() else {
                close(current)
                return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT
            }
            let up = openat(current, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard up >= 0, unlinkat(up, emptied, AT_REMOVEDIR) == 0 else {
                if up >= 0 { close(up) }
                return false
            }
            current = up
        }
    }

    /// Unlinks every non-directory in `directory` up to its first subdirectory: `.some(name)` of that
    /// subdirectory, `.some(nil)` when the directory is now empty, nil when something could not be removed.
    private static func emptyOfFiles(_ directory: Int32) -> String?? {
        let copy = dup(directory)
        guard copy >= 0, let stream = fdopendir(copy) else { return nil }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let child = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if child == "." || child == ".." { continue }
            if unlinkat(directory, child, 0) == 0 || errno == ENOENT { continue }
            guard errno == EISDIR || errno == EPERM else { return nil }
            return .some(child)
        }
        return .some(nil)
    }
}
