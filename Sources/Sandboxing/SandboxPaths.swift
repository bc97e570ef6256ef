#if canImport(Glibc)
    import Glibc
#endif

/// Files inside a sandbox root, reached one component at a time with `openat` and `O_NOFOLLOW`: a symlink
/// anywhere on the path (or `..`) is refused, so a hostile compile cannot make the server read or create files
/// outside the root. Upstream reads outputs from the host side and follows symlinks.
public enum SandboxPaths {
    /// The components of `path` resolved against `cwd` (both as seen inside the sandbox), or nil when the path
    /// has a `..` component.
    public static func components(of path: String, cwd: String) -> [String]? {
        let full = path.hasPrefix("/") ? path : cwd + "/" + path
        let parts = full.split(separator: "/").map(String.init).filter { $0 != "." }
        return parts.contains("..") ? nil : parts
    }

    /// Creates the directories of `components` under `root` (like `mkdir -p`), refusing symlinks on the way.
    public static func makeDirectories(_ components: [String], under root: String) throws {
        var descriptor = try openDirectory(root)
        defer { close(descriptor) }
        for name in components {
            if mkdirat(descriptor, name, 0o755) != 0 && errno != EEXIST {
                throw SandboxError(.setup, "cannot create directory '\(name)' in the job root", cause: errorText())
            }
            let next = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                throw SandboxError(.unsafeOutput, "'\(name)' in the job root is not a plain directory (a symlink?)", cause: errorText())
            }
            close(descriptor)
            descriptor = next
        }
    }

    /// The bytes of the regular file at `components` under `root`; nil when it does not exist.
    /// Throws for a symlink, a non-regular file, or a file larger than `limit`.
    public static func readRegularFile(_ components: [String], under root: String, limit: Int) throws -> [UInt8]? {
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
        return try readAll(file, expected: Int(status.st_size), limit: limit)
    }

    private static func readAll(_ file: Int32, expected: Int, limit: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(expected)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SandboxError(.setup, "reading an output failed", cause: errorText()) }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else { throw SandboxError(.unsafeOutput, "an output grew past \(limit) bytes while being read") }
        }
    }

    private static func openDirectory(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SandboxError(.setup, "cannot open the job root '\(path)'", cause: errorText()) }
        return descriptor
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
