import JobSpawn
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Files inside a sandbox root, reached one component at a time with `openat` and `O_NOFOLLOW`: a symlink
/// anywhere on the path is refused and `..` is resolved by name first (never above the root), so a hostile compile
/// cannot make the server read or create files outside the root. Upstream reads outputs from the host side and
/// follows symlinks and `..` wherever they lead.
public enum SandboxPaths {
    /// The components of `path` resolved against `cwd` (both as seen inside the sandbox), each `..` taking off the
    /// component before it (`src/../lib/a.o`, as curl's makefiles name objects, is `lib/a.o`); nil when a `..`
    /// would climb above the root.
    public static func components(of path: String, cwd: String) -> [String]? {
        resolved(path, cwd: cwd)?.components
    }

    /// ``components(of:cwd:)`` and the directories the path passes through before each run of `..` (`src` for
    /// `src/../lib/a.o`): the kernel walks them, so they must exist where the compiler writes. Nil too past
    /// ``maxTraversed`` such runs, each a directory to make before the job.
    static func resolved(_ path: String, cwd: String) -> (components: [String], traversed: [[String]])? {
        let full = path.hasPrefix("/") ? path : cwd + "/" + path
        var components: [String] = []
        var traversed: [[String]] = []
        for part in full.split(separator: "/") where part != "." {
            guard part == ".." else {
                components.append(String(part))
                continue
            }
            guard !components.isEmpty else { return nil }
            // Within a run of `..` each directory is a parent of the one before, made with it.
            if traversed.last?.starts(with: components) != true { traversed.append(components) }
            guard traversed.count <= maxTraversed else { return nil }
            components.removeLast()
        }
        return (components, traversed)
    }

    /// The most runs of `..` a path may have: a build names an object `../lib/a.o`, not a maze.
    static let maxTraversed = 16

    /// Creates the directories of `components` under `root` (like `mkdir -p`), refusing symlinks on the way.
    /// With an `owner`, the directories it creates and the last one (where the job writes) become the owner's,
    /// as if the job had made them.
    public static func makeDirectories(_ components: [String], under root: String, owner: JobProcess.User? = nil) throws {
        var descriptor = try openDirectory(root)
        defer { close(descriptor) }
        for (index, name) in components.enumerated() {
            let created = mkdirat(descriptor, name, 0o755) == 0
            if !created && errno != EEXIST {
                throw SandboxError(.setup, "cannot create directory '\(name)' in the job root", cause: errorText())
            }
            let next = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                throw SandboxError(.unsafeOutput, "'\(name)' in the job root is not a plain directory (a symlink?)", cause: errorText())
            }
            close(descriptor)
            descriptor = next
            if let owner, created || index == components.count - 1, fchown(descriptor, owner.uid, owner.gid) != 0 {
                throw SandboxError(.setup, "cannot give '\(name)' in the job root to the job's user", cause: errorText())
            }
        }
    }

    /// The bytes of the regular file at `components` under `root`; nil when it does not exist.
    /// Throws for a symlink, a non-regular file, or a file larger than `limit`.
    public static func readRegularFile(_ components: [String], under root: String, limit: Int) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        let size = try readRegularFile(components, under: root, limit: limit) { bytes.append(contentsOf: $0) }
        return size.map { _ in bytes }
    }

    /// Reads the regular file at `components` under `root` in pieces of at most 1 MiB, handing each to `consume`
    /// (never the whole file in memory); returns its size, nil when it does not exist. Throws as the other does.
    public static func readRegularFile(
        _ components: [String], under root: String, limit: Int, pieces consume: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int? {
        guard let name = components.last else { return nil }
        var descriptor = try openDirectory(root)
        defer { close(descriptor) }
        for directory in components.dropLast() {
            let next = openat(descriptor, directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT { return nil }
            guard next >= 0 else {
                throw SandboxError(.unsafeOutput, "output directory '\(directory)' is not a plain directory (a symlink?)", cause: errorText())
            }
            close(descriptor)
            descriptor = next
        }
        return try readRegularFile(name, in: descriptor, limit: limit, pieces: consume)
    }

    /// Reads the regular file `name` of the open directory `descriptor` as ``readRegularFile(_:under:limit:pieces:)``
    /// does; nil when it does not exist (or is an overlay whiteout).
    static func readRegularFile(
        _ name: String, in descriptor: Int32, limit: Int, pieces consume: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int? {
        let file = openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if file < 0 && errno == ENOENT { return nil }
        guard file >= 0 else {
            throw SandboxError(.unsafeOutput, "output '\(name)' cannot be opened without following a symlink", cause: errorText())
        }
        defer { close(file) }
        var status = stat()
        guard fstat(file, &status) == 0 else { throw SandboxError(.setup, "cannot stat output '\(name)'", cause: errorText()) }
        // In an overlay's upper layer a deleted file is a 0:0 character device (a whiteout): the output is missing.
        if (status.st_mode & S_IFMT) == S_IFCHR && status.st_rdev == 0 { return nil }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw SandboxError(.unsafeOutput, "output '\(name)' is not a regular file")
        }
        guard status.st_size <= limit else {
            throw SandboxError(.unsafeOutput, "output '\(name)' has \(status.st_size) bytes; at most \(limit) are returned")
        }
        return try readAll(file, expected: Int(status.st_size), limit: limit, into: consume)
    }

    /// The directory at `components` under `root`, opened without following a symlink on the way; nil when it does
    /// not exist or is not a directory. The caller closes it.
    static func openDirectory(_ components: [String], under root: String) throws -> Int32? {
        var descriptor = try openDirectory(root)
        for directory in components {
            let next = openat(descriptor, directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let (code, text) = (errno, errorText())
            var status = stat()
            let kind = next < 0 && fstatat(descriptor, directory, &status, AT_SYMLINK_NOFOLLOW) == 0 ? status.st_mode & S_IFMT : nil
            close(descriptor)
            guard next >= 0 else {
                if code == ENOENT || (kind != nil && kind != S_IFLNK && kind != S_IFDIR) { return nil }
                throw SandboxError(.unsafeOutput, "output directory '\(directory)' is not a plain directory (a symlink?)", cause: text)
            }
            descriptor = next
        }
        return descriptor
    }

    /// The buffer fits the file (a small object costs no megabyte of zeroed pages on every job), at most 1 MiB.
    private static func readAll(
        _ file: Int32, expected: Int, limit: Int, into consume: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        var total = 0
        var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(4096, expected + 1)))
        while true {
            let count = chunk.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SandboxError(.setup, "reading an output failed", cause: errorText()) }
            if count == 0 { return total }
            total += count
            guard total <= limit else { throw SandboxError(.unsafeOutput, "an output grew past \(limit) bytes while being read") }
            try chunk.withUnsafeBytes { try consume(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    private static func openDirectory(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SandboxError(.setup, "cannot open the job root '\(path)'", cause: errorText()) }
        return descriptor
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
