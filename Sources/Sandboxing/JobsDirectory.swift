import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// The directory of an overlay builder's jobs under `jobs_dir`, a base others may write in (`/dev/shm` is anyone's):
/// named after the builder's `build_dir`, so builders sharing a base never meet and emptying it at start deletes
/// nothing of anyone else's; and claimed before use, so that a root builder never makes its jobs' layers in a
/// directory another user made, or through a symlink one left there.
enum JobsDirectory {
    static func path(in base: String, for buildDirectory: String) -> String {
        let hash = buildDirectory.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }  // FNV-1a
        let hex = String(hash, radix: 16)
        return "/" + base.split(separator: "/").joined(separator: "/") + "/kiln-jobs-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Checks that `path` (just made) is a directory, not a symlink, owned by this server's user, and makes it
    /// `rwxr-xr-x` (the jobs' user must reach its layers; nobody else may add to it).
    static func claim(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw SandboxError(
                .setup, "'\(path)' is not a directory (a symlink?); remove it, or set jobs_dir elsewhere", cause: SandboxPaths.errorText())
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_uid == geteuid() else {
            throw SandboxError(.setup, "'\(path)' belongs to another user; remove it, or set jobs_dir elsewhere")
        }
        guard fchmod(descriptor, 0o755) == 0 else {
            throw SandboxError(.setup, "cannot make '\(path)' rwxr-xr-x", cause: SandboxPaths.errorText())
        }
    }
}
