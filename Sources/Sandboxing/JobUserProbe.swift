import ArchiveKit
import BlockingPool
import Foundation
import JobSpawn
import KilnErrors

/// Proves once, at start, that a root server can run jobs as their unprivileged user: bubblewrap started as that
/// user (an unprivileged user namespace), with the job's flags and syscall filter, reaching a root under
/// `build_dir`. A host that cannot (user namespaces switched off, a `build_dir` below a directory the user may not
/// enter, a bubblewrap without `--disable-userns`) fails at start with the reason instead of failing every job.
struct JobUserProbe: Sendable {
    let bubblewrapPath: String
    let user: JobProcess.User
    let filterPath: String?

    func check(in directory: String) async throws {
        let root = directory + "/probe-\(getpid())"
        let user = user
        try await BlockingWork.run {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try SandboxRoot.makeMountPoints(in: root, user: user)
            // The probe's root is the user's, so that bubblewrap may add the host's program directories to it.
            guard chown(root, user.uid, user.gid) == 0 else {
                throw SandboxError(.setup, "cannot give '\(root)' to uid \(user.uid)", cause: String(cString: strerror(errno)))
            }
        }
        let programs = ["--ro-bind", "/usr", "/usr"] + ["/bin", "/lib", "/lib64"].flatMap { ["--ro-bind-try", $0, $0] }
        var process = JobProcess(
            executable: bubblewrapPath,
            arguments: BubblewrapCommand.namespacesAndMounts(root: root, filtered: filterPath != nil) + programs + ["--", "/bin/true"])
        (process.user, process.filterPath) = (user, filterPath)
        let outcome = await process.run(timeout: .seconds(30), maxStreamBytes: 4096)
        try? await RootlessOverlay.removeTree(root)
        guard outcome.ending == .exited(0) else {
            throw SandboxError(
                .unavailable,
                "jobs cannot run as uid \(user.uid) here: bubblewrap, started as that user, failed (\(outcome.ending)). It needs unprivileged user namespaces (sysctl user.max_user_namespaces > 0; kernel.unprivileged_userns_clone = 1 on older Debian kernels; kernel.apparmor_restrict_unprivileged_userns = 0 on Ubuntu), bubblewrap 0.8 or newer (--disable-userns), and every directory above build_dir searchable by that user (chmod o+x)",
                cause: String(decoding: outcome.stderr, as: UTF8.self))
        }
    }
}
