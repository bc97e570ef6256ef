import DockerEngine
import Foundation

/// Makes a used container as good as new for the next job of the same toolchain, or says it cannot.
///
/// Jobs run as an unprivileged user, so all they can change is what that user may write: files and directories
/// they added (removed here), and the metadata of directories (harmless). Anything else in the engine's list of
/// changes (a deleted path, a modified file) means the container is not trusted again.
enum DockerContainerReset {
    /// The most added paths removed in one go; a job that scattered more gets a new container instead.
    static let maxRemovedPaths = 2000
    /// The engine's own bind mount of docker-init (and `/sbin` for it, which no job user could create).
    static let engineOwned: Set<String> = ["/sbin/docker-init", "/sbin"]

    /// True when the container is clean and may be reused. The job user's processes are killed, what the job added
    /// is removed, and a second look at the changes proves nothing was added meanwhile. Where the builder sees the
    /// container from the host (`host`: root, overlay2) it looks for leftover processes and removes files there;
    /// otherwise, or when that fails, root execs in the container do it (the engine starts a process for each).
    static func reset(_ container: String, engine: DockerEngineClient, jobUser: String, host: ContainerFilesystem?) async -> Bool {
        do {
            let left = host?.initProcess.flatMap { ContainerProcesses.jobProcessesLeft(pidNamespaceOf: $0) }
            if left != false {
                guard await killJobs(in: container, engine: engine, jobUser: jobUser) else { return false }
            }
            guard let plan = plan(for: try await engine.changes(container: container)) else { return false }
            let onTheHost = host?.root != nil && host?.initProcess.map(clearInterprocessFiles(ofProcess:)) == true
            if !(onTheHost && host?.root.map { remove(plan, under: $0) } == true) {
                // The engine's list of changes never shows /dev/shm and /dev/mqueue (mounts of their own): a job
                // could leave a message there for the next job of the toolchain. They are emptied every time.
                // Only the shell's builtins and Kiln's busybox by its path: a toolchain's `rm` never runs as root.
                let script =
                    #"b=/.kiln/busybox; $b rm -rf /dev/shm/* /dev/shm/.[!.]* /dev/mqueue/* 2>/dev/null; for p in "$@"; do case "$p" in -d) mode=d;; -r) mode=r;; *) if [ $mode = r ]; then $b rm -rf -- "$p" || exit 1; else [ -d "$p" ] || exit 2; fi;; esac; done"#
                let arguments = ["sh", "-c", script, "reset", "-r"] + plan.removals + ["-d"] + plan.directoriesToCheck
                let cleanup = try await engine.exec(container: container, upkeep(arguments), timeout: 60, streamLimit: 4096)
                guard cleanup.exitCode == 0 else { return false }
            }
            guard let after = Self.plan(for: try await engine.changes(container: container)) else { return false }
            return after.removals.isEmpty
        } catch {
            return false
        }
    }

    /// The plan carried out through the container's root on the host: removals by descriptor (never through a
    /// symlink), and the modified paths checked to be plain directories still.
    private static func remove(_ plan: (removals: [String], directoriesToCheck: [String]), under root: String) -> Bool {
        func components(_ path: String) -> [String] { path.split(separator: "/").map(String.init) }
        return plan.removals.allSatisfy { SandboxTree.remove(components($0), under: root) }
            && plan.directoriesToCheck.allSatisfy { SandboxTree.isPlainDirectory(components($0), under: root) }
    }

    /// Empties the container's `/dev/shm` and `/dev/mqueue`, seen through `/proc/<pid>/root` of its first
    /// process; false when it cannot (the reset then execs in the container).
    private static func clearInterprocessFiles(ofProcess pid: Int32) -> Bool {
        ["/dev/shm", "/dev/mqueue"].allSatisfy { directory in
            let path = "/proc/\(pid)/root" + directory
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                return !FileManager.default.fileExists(atPath: path)
            }
            return entries.allSatisfy { SandboxTree.remove([$0], under: path) }
        }
    }

    /// Kills every process of the job user (`kill -9 -1` as that user reaches exactly those): what a job left
    /// behind, or a job that must stop now (deadline, disk, a client that hung up; cancelling the exec call alone
    /// would leave it running). The container's init (docker-init) reaps them, so no zombie keeps counting
    /// against the pids limit; the root-owned idle process stays.
    @discardableResult
    static func killJobs(in container: String, engine: DockerEngineClient, jobUser: String) async -> Bool {
        // kill fails when nothing was left to kill; that is fine.
        let kill = ExecConfig(
            user: jobUser, workingDirectory: "/", environment: [],
            command: [DockerSandboxSettings.busybox, "sh", "-c", "kill -9 -1 2>/dev/null; exit 0"])
        let result = try? await engine.exec(container: container, kill, timeout: 60, streamLimit: 4096)
        return result?.exitCode == 0
    }

    /// What to remove (the topmost added paths) and what must still be a directory (the modified paths); nil
    /// when the container cannot be trusted again.
    static func plan(for changes: [FilesystemChange]) -> (removals: [String], directoriesToCheck: [String])? {
        guard !changes.contains(where: { $0.kind == .deleted }) else { return nil }
        let added = Set(changes.filter { $0.kind == .added && !engineOwned.contains($0.path) }.map(\.path))
        let topmost = added.filter { path in !ancestors(of: path).contains(where: added.contains) }.sorted()
        guard topmost.count <= maxRemovedPaths else { return nil }
        let modified = changes.filter { $0.kind == .modified }.map(\.path).sorted()
        guard modified.count <= maxRemovedPaths else { return nil }
        return (topmost, modified)
    }

    private static func ancestors(of path: String) -> [String] {
        var parts = path.split(separator: "/").dropLast()
        var result: [String] = []
        while !parts.isEmpty {
            result.append("/" + parts.joined(separator: "/"))
            parts = parts.dropLast()
        }
        return result
    }

    /// A root command for upkeep, run by the base image's busybox.
    private static func upkeep(_ arguments: [String]) -> ExecConfig {
        ExecConfig(user: "0:0", workingDirectory: "/", environment: [], command: [DockerSandboxSettings.busybox] + arguments)
    }
}
