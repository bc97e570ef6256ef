#if canImport(Glibc)
    import Glibc
#endif

/// Walks and removes trees a job wrote, by descriptor (`openat`/`unlinkat`, never following a symlink, one
/// directory open at a time), so that neither a hostile symlink nor a tree deeper than any path (`mkdir a; cd a`
/// a few thousand times) can make the server count wrong, delete outside the tree, or fail to delete it.
enum SandboxTree {
    /// Removes `path` and everything below it; true when it is gone (or was never there).
    static func removeTree(_ path: String) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        guard let name = parts.last else { return false }
        return remove([name], under: "/" + parts.dropLast().joined(separator: "/"))
    }

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

    /// Removes everything in the directory at `path` (not followed if it is a symlink) but the entries named in
    /// `keeping`; true when nothing else is left.
    static func removeContents(of path: String, keeping: Set<String> = []) -> Bool {
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { return false }
        defer { close(directory) }
        var names: [String] = []
        let listed = forEachEntry(of: directory) { name, _ in
            if !keeping.contains(name) { names.append(name) }
            return true
        }
        return listed && names.allSatisfy { removeEntry($0, in: directory) }
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

    /// Depth-first with one directory open at a time (a descendant is left for its parent through `..`, and the
    /// names still to empty at each level are kept): a tree of any depth costs neither a path longer than
    /// `PATH_MAX` nor a descriptor per level, and each directory is listed once. Nothing else may change the tree
    /// meanwhile (the job's processes are gone).
    private static func removeEntry(_ name: String, in parent: Int32) -> Bool {
        if unlinkat(parent, name, 0) == 0 || errno == ENOENT { return true }
        guard errno == EISDIR || errno == EPERM else { return false }
        var current = openDirectory(name, in: parent)
        guard current >= 0 else { return false }
        // Per level below `name`: the directory's own name and its subdirectories still to empty.
        var levels: [(name: String, pending: [String])] = []
        guard var pending = emptyOfFiles(current) else {
            close(current)
            return false
        }
        while true {
            if let child = pending.popLast() {
                let next = openDirectory(child, in: current)
                guard next >= 0, let below = emptyOfFiles(next) else {
                    if next >= 0 { close(next) }
                    close(current)
                    return false
                }
                close(current)
                levels.append((child, pending))
                (current, pending) = (next, below)
                continue
            }
            guard let level = levels.popLast() else {
                close(current)
                return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT
            }
            let up = openat(current, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard up >= 0, unlinkat(up, level.name, AT_REMOVEDIR) == 0 else {
                if up >= 0 { close(up) }
                return false
            }
            (current, pending) = (up, level.pending)
        }
    }

    /// Opens a subdirectory to empty it. A job may have taken away its own permissions (rootless, the server owns
    /// what the job wrote): they are given back first, as only the owner or root can. A directory that has them
    /// keeps its mode: a removal that stops half way must not leave `build_dir` closed to the job user.
    private static func openDirectory(_ name: String, in parent: Int32) -> Int32 {
        var directory = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if directory < 0 && errno == EACCES && fchmodat(parent, name, 0o700, 0) == 0 {
            directory = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        var info = stat()
        if directory >= 0, fstat(directory, &info) == 0, info.st_mode & 0o700 != 0o700 { _ = fchmod(directory, 0o700) }
        return directory
    }

    /// Unlinks every non-directory in `directory`: the names of its subdirectories, nil when something could not
    /// be removed.
    private static func emptyOfFiles(_ directory: Int32) -> [String]? {
        var subdirectories: [String] = []
        let listed = forEachEntry(of: directory) { child, isDirectory in
            if isDirectory != true {
                if unlinkat(directory, child, 0) == 0 || errno == ENOENT { return true }
                guard errno == EISDIR || errno == EPERM else { return false }
            }
            subdirectories.append(child)
            return true
        }
        return listed ? subdirectories : nil
    }

    /// The bytes allocated to everything below `root` (every file, directory and link, by `st_blocks`), walked
    /// depth first with one directory open at a time. The job runs meanwhile: a directory it moves away under the
    /// walk is not followed (each climb checks it is back where it went down), and is counted at the next walk.
    static func allocatedBytes(under root: String) -> UInt64 {
        var current = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { return 0 }
        var total: UInt64 = 0
        var levels: [(identity: FileIdentity, pending: [String])] = []
        var descend = true
        while true {
            if descend {
                var pending: [String] = []
                let identity = FileIdentity(descriptor: current)
                _ = forEachEntry(of: current) { child, _ in
                    var info = stat()
                    guard fstatat(current, child, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return true }
                    total += UInt64(max(0, info.st_blocks)) * 512
                    if info.st_mode & S_IFMT == S_IFDIR { pending.append(child) }
                    return true
                }
                levels.append((identity, pending))
            }
            guard let child = levels[levels.count - 1].pending.popLast() else {
                levels.removeLast()
                let up = levels.isEmpty ? -1 : openat(current, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                close(current)
                guard up >= 0, FileIdentity(descriptor: up) == levels[levels.count - 1].identity else {
                    if up >= 0 { close(up) }
                    return total
                }
                current = up
                descend = false
                continue
            }
            let next = openat(current, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                descend = false
                continue
            }
            close(current)
            current = next
            descend = true
        }
    }

    /// Calls `body` with each entry's name (not `.` or `..`) and whether it is a directory (nil: the file system
    /// does not say) until it returns false; false when it stopped early or the directory could not be read.
    private static func forEachEntry(of directory: Int32, _ body: (String, Bool?) -> Bool) -> Bool {
        // A duplicate has its own position, and closedir closes only it.
        let copy = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return false
        }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            let type = entry.pointee.d_type
            if !body(name, type == UInt8(DT_UNKNOWN) ? nil : type == UInt8(DT_DIR)) { return false }
        }
        return true
    }
}

/// A directory's device and inode: the same directory, whatever its path now.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init(descriptor: Int32) {
        var info = stat()
        if fstat(descriptor, &info) == 0 {
            (device, inode) = (UInt64(info.st_dev), UInt64(info.st_ino))
        } else {
            (device, inode) = (0, 0)
        }
    }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.device != 0 }
}
