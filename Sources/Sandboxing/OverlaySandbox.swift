import ArchiveKit
import BlockingPool
import BuilderCore
import Foundation
import JobSpawn
import KilnErrors
import KilnProtocol
import Synchronization

/// The overlay builder (protocol §8.4): the unpacked toolchain is the read-only lower layer of an overlayfs, the
/// job writes to its own upper layer, the inputs are unpacked into it, and the compiler runs there under
/// bubblewrap with every namespace unshared and no capabilities, inside the job's cgroup and rlimits.
///
/// As root the overlay is mounted on the host (as upstream does), and the next jobs' sandboxes are made ahead
/// (see `OverlaySandbox+Ahead.swift`); rootless, each job mounts it in a user and mount namespace of its own
/// (``RootlessOverlay``). Layout under `build_dir`: `toolchains/<archive_id>`
/// (unpacked once, see ``UnpackedToolchains``) and `builds/<job>-<n>/{upper,work,root}`, removed after the job
/// (as root, emptied and kept for a next job as `spare-<n>`: ``SpareJobTrees``);
/// with `jobs_dir`, the jobs' directories go to a directory of this builder's own there instead (a tmpfs such as
/// `/dev/shm` spares each job the disk filesystem's metadata work, as Bazel's `--sandbox_base` does).
public struct OverlaySandbox: BuildSandbox {
    let buildDirectory: String
    /// Where each job's `{upper,work,root}` is made and removed.
    public let jobsDirectory: String
    var jobsInBuildDirectory: Bool { jobsDirectory == buildDirectory + "/builds" }
    let bubblewrapPath: String
    let limits: SandboxLimits
    /// Whether jobs mount their overlay in a user namespace of their own rather than on the host.
    public let rootless: Bool
    /// The unpacked toolchains (lower layers) this sandbox keeps.
    public let toolchains: UnpackedToolchains
    /// Job cgroups with their first process already inside, kept ready (see ``PreparedLaunches``).
    let preparedLaunches: Int
    let sequence = JobSequence()
    let host = PreparedHost()
    let cleanups = PendingCleanups()
    /// Sandboxes made ready before their jobs, as root (see ``SandboxAhead``).
    let ahead: SandboxesAhead
    /// Finished jobs' directories kept for the next, as root.
    let spares: SpareJobTrees
    /// Whom jobs run as: a root server's jobs as an unprivileged user of their own (rootless too: the user then
    /// owns the job's layers and mounts them); nil, a server that is not root: its own user.
    let jobUser: JobProcess.User?
    /// Host directories bound read-only into the jobs of ``HostRootToolchain`` (REAPI actions): their root.
    let actionHostPaths: [String]
    /// The ``SyscallFilter`` of this machine's architecture, written at start; nil where there is none.
    var filterPath: String? { SyscallFilter.Architecture.native == nil ? nil : buildDirectory + "/syscall-filter.bpf" }

    /// The uid and gid of jobs run by a root server unless configured (the docker sandbox's default too).
    public static let defaultJobUser = JobProcess.User(uid: 65532, gid: 65532)

    /// - Parameter rootless: nil chooses by the server's user: rootless unless it runs as root.
    /// - Parameter jobUser: whom jobs run as when the server is root (otherwise they run as the server's user).
    public init(
        buildDirectory: String, bubblewrapPath: String, toolchainBudget: UInt64, limits: SandboxLimits = SandboxLimits(), rootless: Bool? = nil,
        preparedLaunches: Int = 3, jobUser: JobProcess.User = OverlaySandbox.defaultJobUser, actionHostPaths: [String] = ["/usr"],
        jobsBase: String? = nil
    ) {
        self.preparedLaunches = preparedLaunches
        self.actionHostPaths = actionHostPaths
        // Normalized because they are compared with the mount points of /proc/self/mountinfo.
        let buildDirectory = "/" + buildDirectory.split(separator: "/").joined(separator: "/")
        self.buildDirectory = buildDirectory
        jobsDirectory = jobsBase.map { JobsDirectory.path(in: $0, for: buildDirectory) } ?? buildDirectory + "/builds"
        self.bubblewrapPath = bubblewrapPath
        self.limits = limits
        self.rootless = rootless ?? (geteuid() != 0)
        self.jobUser = geteuid() == 0 ? jobUser : nil
        toolchains = UnpackedToolchains(root: "\(self.buildDirectory)/toolchains", budget: toolchainBudget)
        ahead = SandboxesAhead(target: self.rootless || JobParker.path == nil ? 0 : preparedLaunches)
        spares = SpareJobTrees(in: jobsDirectory)
    }

    /// Checks bwrap (and, rootless, the namespaces), detaches mounts left by an earlier run, empties `build_dir`
    /// (as upstream does) and finds how the job limits can be enforced here.
    public func prepare() async throws {
        guard rootless || geteuid() == 0 else {
            throw SandboxError(
                .unavailable, "the overlay builder's root mode mounts overlayfs on the host; run builder-server as root, or set rootless = true")
        }
        for sandbox in await ahead.takeAll(stopping: false) { await giveUp(sandbox) }
        await settle()
        _ = spares.takeAll()  // deleted with the rest below
        let probe = try await ProcessRunner(timeout: .seconds(10), maxStreamBytes: 4096).run(bubblewrapPath, ["--version"], environment: [:])
        guard probe.termination == .exited(0) else {
            throw SandboxError(.unavailable, "'\(bubblewrapPath) --version' failed; install bubblewrap (apt install bubblewrap) or fix bwrap_path")
        }
        if !rootless {
            let stuck = OverlayMount.unmountAll(under: buildDirectory) + OverlayMount.unmountAll(under: jobsDirectory)
            guard stuck.isEmpty else { throw SandboxError(.setup, "cannot unmount \(stuck) left under build_dir; unmount them by hand") }
        }
        host.leftovers = await clearBuildDirectory()
        let (directory, jobsDirectory, separate, filterPath) = (buildDirectory, jobsDirectory, !jobsInBuildDirectory, filterPath)
        try await BlockingWork.run {
            for child in [jobsDirectory, directory + "/toolchains"] {
                try FileManager.default.createDirectory(atPath: child, withIntermediateDirectories: true)
            }
            if separate { try JobsDirectory.claim(jobsDirectory) }
            if let filterPath, let architecture = SyscallFilter.Architecture.native { try SandboxRoot.writeFilter(architecture, to: filterPath) }
        }
        // Probed where the jobs' layers go: that filesystem must take an overlay's upper layer.
        let overlay = rootless ? try await RootlessOverlay.check(bubblewrapPath: bubblewrapPath, scratch: jobsDirectory + "/probe") : nil
        if let jobUser {
            try await JobUserProbe(bubblewrapPath: bubblewrapPath, user: jobUser, filterPath: filterPath).check(in: jobsDirectory)
        }
        let enforcement = JobLimitEnforcement(limits: limits, runsAsRoot: geteuid() == 0 && jobUser == nil)
        let launches = PreparedLaunches(hierarchy: enforcement.cgroups, limits: limits, count: preparedLaunches)
        await host.set(enforcement, overlay, launches)?.stop()
        await launches.refill()
    }

    /// Empties `build_dir`. What cannot be deleted (a tree an earlier run could not delete either) is moved aside
    /// and named in the start-up log, never a reason not to start; the next start tries again.
    private func clearBuildDirectory() async -> String? {
        var failure: (any Error)?
        // Another pass lists the tree again, and the mounts: a read of mountinfo can miss an entry while other
        // mounts on the host come and go, and a mount point is not deleted (EBUSY).
        for pass in 0..<3 {
            if pass > 0 && !rootless { _ = OverlayMount.unmountAll(under: buildDirectory) + OverlayMount.unmountAll(under: jobsDirectory) }
            do {
                try await RootlessOverlay.removeTree(buildDirectory)
                if !jobsInBuildDirectory { try await RootlessOverlay.removeTree(jobsDirectory) }
                return nil
            } catch { failure = error }
        }
        let (directory, jobsDirectory) = (buildDirectory, jobsDirectory)
        let moveAside = { @Sendable in
            [jobsDirectory, directory + "/toolchains"].compactMap { path -> String? in
                guard FileManager.default.fileExists(atPath: path) else { return nil }
                let aside = "\(path)-stale-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                return rename(path, aside) == 0 ? aside : "\(path) (\(String(cString: strerror(errno))))"
            }
        }
        let moved = (try? await BlockingWork.run(moveAside)) ?? []
        let cause = failure.map { "\($0); " } ?? ""
        return "could not delete everything under \(buildDirectory) (\(cause)moved aside: \(moved.joined(separator: ", "))); delete it by hand"
    }

    /// Waits for the clean-up of finished jobs and discards the prepared launches and sandboxes.
    public func shutdown() async {
        await host.launches?.stop()
        await settle()
        for sandbox in await ahead.takeAll(stopping: true) { await giveUp(sandbox) }
        await settle()
        for spare in spares.takeAll() { try? await RootlessOverlay.removeTree(spare) }
        // A directory of its own elsewhere (a tmpfs) is not left behind empty; build_dir's is emptied at start.
        if !jobsInBuildDirectory { rmdir(jobsDirectory) }
    }

    /// Returns once every finished job's overlay is unmounted and its directory and cgroup are gone, and the
    /// sandboxes being made ahead are ready.
    public func settle() async { await cleanups.settle() }

    public var enforcementReport: String {
        (rootless ? "overlay sandbox, rootless (user namespaces); " : "overlay sandbox as root; ")
            + (jobsInBuildDirectory ? "" : "jobs' layers in \(jobsDirectory); ")
            + (jobUser.map { "jobs run as uid \($0.uid) gid \($0.gid); " } ?? "jobs run as the server's user; ")
            + (filterPath == nil
                ? "no syscall filter (it knows x86-64 and AArch64 only); "
                : "no nested user namespaces, syscall filter on (namespaces, mounts, ptrace, keyring, bpf and more refused); ")
            + (host.enforcement?.report ?? "not prepared")
            + (host.leftovers.map { "; \($0)" } ?? "")
            + (host.enforcement?.cgroups != nil && JobParker.path == nil
                ? "; \(JobParker.executableName) is not beside builder-server: jobs are not started ahead (install it there)" : "")
            + (UnjournalledExt4.device(of: jobsDirectory).map {
                "; the jobs' layers are on an ext4 without a journal (\($0)): each file a job makes waits on a scan of the inodes"
                    + " freed in the last minutes, more as jobs run; jobs_dir on a tmpfs avoids it"
            } ?? "")
    }

    public func run(_ job: SandboxJob) async throws -> JobComplete {
        guard let enforcement = host.enforcement else { throw SandboxError(.setup, "the overlay sandbox was not prepared") }
        let toolchain = job.toolchain.archiveID
        // Whatever the job's end, the next job of its toolchain finds a sandbox ready.
        do {
            let result: JobComplete
            if let sandbox = await ahead.take(toolchain) {
                result = try await run(job, in: sandbox)
            } else {
                result = try await runInNewSandbox(job, enforcement: enforcement)
            }
            await cleanups.start { await makeSandboxesAhead(for: toolchain, enforcement: enforcement) }
            return result
        } catch {
            await cleanups.start { await makeSandboxesAhead(for: toolchain, enforcement: enforcement) }
            throw error
        }
    }

    /// Unpacks the toolchain now when it is not (the digest is made as it unpacks): the job's build needs it next.
    public func toolchainContent(of job: SandboxJob) async throws -> [UInt8] {
        let lease = try await toolchains.acquire(job.toolchain, archivePath: job.toolchainArchivePath, onUnpacked: job.onToolchainUnpacked)
        await toolchains.release(lease)
        return lease.contentDigest
    }

    private func runInNewSandbox(_ job: SandboxJob, enforcement: JobLimitEnforcement) async throws -> JobComplete {
        let lease = try await toolchains.acquire(job.toolchain, archivePath: job.toolchainArchivePath, onUnpacked: job.onToolchainUnpacked)
        let number = sequence.next()
        let jobDirectory = "\(jobsDirectory)/\(job.id)-\(number)"
        let prepared = try await launch(enforcement)
        do {
            let result = try await runJob(job, enforcement: enforcement, launch: prepared, lowerLayer: lease.directory, jobDirectory: jobDirectory)
            await finish(jobDirectory: jobDirectory, launch: prepared, lease: lease)
            return result
        } catch {
            await finish(jobDirectory: jobDirectory, launch: prepared, lease: lease)
            throw error
        }
    }

    /// The job's cgroup and parked first process: a prepared one, or a cgroup made now (the process then joins it
    /// as it starts).
    func launch(_ enforcement: JobLimitEnforcement) async throws -> (cgroup: JobCgroup?, process: ParkedProcess?) {
        if let prepared = await host.launches?.take() { return (prepared.cgroup, prepared.process) }
        return (try enforcement.cgroups.map { try JobCgroup(name: JobCgroup.uniqueName(), in: $0, limits: limits) }, nil)
    }

    private func runJob(
        _ job: SandboxJob, enforcement: JobLimitEnforcement, launch: (cgroup: JobCgroup?, process: ParkedProcess?), lowerLayer: String,
        jobDirectory: String
    ) async throws -> JobComplete {
        let cgroup = launch.cgroup
        let layout = try JobLayout(command: job.command, outputs: job.outputs)
        let (upper, work, root) = (jobDirectory + "/upper", jobDirectory + "/work", jobDirectory + "/root")
        // Rootless, the server never sees the mount: the job's files are its upper layer.
        let files = rootless ? upper : root
        let (rootless, user, spares, volatile) = (rootless, jobUser, spares, volatileOverlay(for: job.toolchain.archiveID))
        try await BlockingWork.run {
            try spares.make(jobDirectory, user: user)
            if !rootless { try OverlayMount.mount(lower: lowerLayer, upper: upper, work: work, at: root, volatile: volatile) }
            if rootless, let user {
                for layer in [upper, work, root] where chown(layer, user.uid, user.gid) != 0 {
                    throw SandboxError(.setup, "cannot give '\(layer)' to the job's user", cause: String(cString: strerror(errno)))
                }
            }
        }
        try await SandboxRoot.placeInputs(of: job, into: files, layout: layout, user: user)
        let hostPaths = hostPaths(of: job.toolchain.archiveID)
        var command =
            [bubblewrapPath] + BubblewrapCommand.arguments(root: root, filtered: filterPath != nil, hostPaths: hostPaths, command: job.command)
        if let overlay = host.overlay {
            command = try overlay.command(lower: lowerLayer, upper: upper, work: work, root: root, volatile: volatile, then: command)
        }
        let process = sandboxProcess(command, cgroup: cgroup, enforcement: enforcement)
        let limits = limits
        let parked = launch.process
        return try await execute(job, layout: layout, files: files, upper: upper, cgroup: cgroup) {
            if let parked { return await parked.launch(process, timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes) }
            return await process.run(timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes)
        }
    }

    /// Whether a job of `toolchain` mounts its overlay `volatile` (``OverlayMount/options(lower:upper:work:volatile:)``):
    /// sccache's jobs do (measured on this project's ext4 machines: the compile phase's gap to `jobs_dir` on a tmpfs
    /// went from 5.2 to -0.1-2.8 ms per trivial job), REAPI actions (``HostRootToolchain``) do not: their 30-odd input
    /// files took longer to place with it (sandbox set-up 11-18 against 4-5 ms per action in alternating runs; on a
    /// tmpfs 2.0 against 1.7 ms), for a reason not found yet.
    func volatileOverlay(for toolchain: String) -> Bool { !isREAPIAction(toolchain) }

    /// The host directories a job of `toolchain` sees: the REAPI actions' root for ``HostRootToolchain``, else none.
    func hostPaths(of toolchain: String) -> [String] { isREAPIAction(toolchain) ? actionHostPaths : [] }

    /// Whether a job of `toolchain` is a REAPI action (its toolchain the builder's own root, ``HostRootToolchain``).
    func isREAPIAction(_ toolchain: String) -> Bool { toolchain == HostRootToolchain.toolchain.archiveID }

    /// bubblewrap as a job's first process: in its cgroup, under its rlimits, as the job's user, with the filter.
    func sandboxProcess(_ command: [String], cgroup: JobCgroup?, enforcement: JobLimitEnforcement) -> JobProcess {
        var process = enforcement.process(command, cgroup: cgroup)
        (process.user, process.filterPath) = (jobUser, filterPath)
        return process
    }

    /// Runs the job's first process (`run`) under the disk watch, then checks the cgroup's limits and reads the
    /// declared outputs from `files`.
    func execute(
        _ job: SandboxJob, layout: JobLayout, files: String, upper: String, cgroup: JobCgroup?,
        run: @escaping @Sendable () async -> JobProcess.Outcome
    ) async throws -> JobComplete {
        try await job.onCompilerStart?()
        let outcome = try await DiskUsageWatch.run(run, watching: upper, limit: limits.diskBytes)
        job.onCompilerEnd?()
        if let exceeded = cgroup?.exceededLimits(), !exceeded.isEmpty {
            throw SandboxError(
                .limitExceeded, "the job hit its \(exceeded.joined(separator: " and ")) limit; raise [job_limits] if compiles need more")
        }
        return JobComplete(
            output: try outcome.processOutput(executable: bubblewrapPath, timeout: limits.timeout, streamLimit: limits.maxStreamBytes),
            outputs: try await layout.readOutputs(under: files, limit: limits.maxOutputFileBytes, total: limits.maxOutputBytes))
    }

    /// Kills what is left of the job before its answer goes out; then, in the background, unmounts (as root) and
    /// deletes its directories (or, as root, empties and keeps them for the next: ``SpareJobTrees``) and cgroup. If
    /// the unmount fails the directory is left alone: deleting through a live overlay would reach into the shared
    /// toolchain.
    func finish(jobDirectory: String, launch: (cgroup: JobCgroup?, process: ParkedProcess?), lease: UnpackedToolchains.Lease) async {
        launch.process?.discard()  // only when the job never launched it
        if let cgroup = launch.cgroup { _ = try? await BlockingWork.run { cgroup.killAll() } }
        let (rootless, toolchains, spares, user) = (rootless, toolchains, spares, jobUser)
        await cleanups.start {
            // One trip to the blocking pool for all of it: the unmount waits for an RCU grace period, which must not
            // hold a thread of Swift's cooperative pool, and each trip costs two thread wake-ups.
            _ = try? await BlockingWork.run {
                launch.cgroup?.remove()
                guard rootless || OverlayMount.unmount(jobDirectory + "/root") else { return }
                if rootless || !spares.keep(jobDirectory, user: user) { _ = SandboxTree.removeTree(jobDirectory) }
            }
            await toolchains.release(lease)
        }
    }
}
