import ArchiveKit
import BlockingPool
import Foundation
import KilnErrors

#if canImport(Glibc)
    import Glibc
#endif

/// The overlay sandbox without root: each job enters a new unprivileged user and mount namespace (`unshare`),
/// where it is root enough to mount the overlay (Linux ≥ 5.11), and bubblewrap runs the compile from there.
/// The mount exists only inside that namespace and goes with it; the server fills and reads the job's upper
/// directory on the host side, so it never needs the mount itself.
struct RootlessOverlay: Sendable {
    let unsharePath: String
    let mountPath: String

    /// Mounts the overlay (`$2` options on `$3`) with `$1` (mount), then execs the rest; a failed mount kills the
    /// shell (a sandbox failure, not a compiler's exit code).
    static let mountScript = #""$1" -t overlay overlay -o "$2" "$3" || kill -KILL $$; shift 3; exec "$@""#

    /// The command that mounts `lower` + `upper` at `root` in a new user and mount namespace and then runs `command`.
    func command(lower: String, upper: String, work: String, root: String, volatile: Bool = true, then command: [String]) throws -> [String] {
        let options = try OverlayMount.options(lower: lower, upper: upper, work: work, volatile: volatile)
        return [unsharePath, "--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c", Self.mountScript, "kiln-mount", mountPath, options, root]
            + command
    }

    /// Finds the tools and proves the whole chain once (namespaces, overlay mount, bubblewrap inside), so that a
    /// host that cannot do it fails at start with the reason instead of failing every job.
    static func check(bubblewrapPath: String, scratch: String) async throws -> RootlessOverlay {
        if let release = kernelRelease(), !kernelSupportsUnprivilegedOverlay(release) {
            throw SandboxError(
                .unavailable,
                "rootless overlay needs Linux 5.11 or newer (overlayfs in user namespaces); this kernel is \(release). Run builder-server as root with rootless = false, or use the docker sandbox"
            )
        }
        guard let unshare = ["/usr/bin/unshare", "/bin/unshare"].first(where: FileManager.default.isExecutableFile(atPath:)),
            let mount = ["/usr/bin/mount", "/bin/mount"].first(where: FileManager.default.isExecutableFile(atPath:))
        else { throw SandboxError(.unavailable, "rootless overlay needs unshare and mount from util-linux (apt install util-linux mount)") }
        let overlay = RootlessOverlay(unsharePath: unshare, mountPath: mount)
        try await BlockingWork.run {
            for layer in ["lower", "upper", "work", "root"] {
                try FileManager.default.createDirectory(atPath: scratch + "/" + layer, withIntermediateDirectories: true)
            }
        }
        let probe = try overlay.command(
            lower: scratch + "/lower", upper: scratch + "/upper", work: scratch + "/work", root: scratch + "/root",
            then: [bubblewrapPath] + probeArguments(root: scratch + "/root"))
        let outcome = try await ProcessRunner(timeout: .seconds(30), maxStreamBytes: 4096).run(probe[0], Array(probe.dropFirst()), environment: [:])
        try? await removeTree(scratch)
        guard outcome.termination == .exited(0) else {
            throw SandboxError(
                .unavailable,
                "rootless overlay does not work here: an unprivileged user namespace could not mount overlayfs or run bubblewrap. Check sysctl user.max_user_namespaces (> 0), kernel.unprivileged_userns_clone = 1 (Debian kernels before 6.x) and kernel.apparmor_restrict_unprivileged_userns = 0 (Ubuntu), or run as root with rootless = false",
                cause: String(decoding: outcome.stderr, as: UTF8.self))
        }
        return overlay
    }

    /// bubblewrap as a job uses it (the overlay mount as its root), with the host's programs bound in only to run
    /// `true`. Never the host's `/` itself: a recursive bind of `/` replays every mount below it, and one that
    /// another process unmounts meanwhile (a root builder's job under /tmp) fails the probe for nothing.
    static func probeArguments(root: String) -> [String] {
        ["--unshare-user", "--unshare-pid", "--unshare-net", "--bind", root, "/", "--ro-bind", "/usr", "/usr"]
            + ["/bin", "/lib", "/lib64", "/lib32", "/libx32"].flatMap { ["--ro-bind-try", $0, $0] } + ["--", "/bin/true"]
    }

    static func kernelRelease() -> String? {
        var name = utsname()
        guard uname(&name) == 0 else { return nil }
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func kernelSupportsUnprivilegedOverlay(_ release: String) -> Bool {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return true }
        return (numbers[0], numbers[1]) >= (5, 11)
    }

    /// Deletes a job's tree (``SandboxTree``: by descriptor, at any depth, symlinks removed and never followed);
    /// as its unprivileged owner, directories the job made unreadable, and overlayfs's mode-000 `work/work`, are
    /// opened up on the way.
    static func removeTree(_ path: String) async throws {
        // errno is the blocking thread's: it is read there.
        let failure = try await BlockingWork.run { SandboxTree.removeTree(path) ? nil : String(cString: strerror(errno)) }
        if let failure { throw SandboxError(.setup, "cannot delete '\(path)' completely", cause: failure) }
    }
}
