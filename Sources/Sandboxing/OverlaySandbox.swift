import ArchiveKit
import Foundation
import KilnProtocol
import Synchronization

/// The overlay builder (protocol §8.4): the unpacked toolchain is the read-only lower layer of an overlayfs, the
/// job writes to its own upper layer, the inputs are unpacked into it, and the compiler runs there under
/// bubblewrap with every namespace unshared and no capabilities, inside the job's cgroup and rlimits.
///
/// As root the overlay is mounted on the host (as upstream does); rootless, each job mounts it in a user and
/// mount namespace of its own (``RootlessOverlay``). Layout under `build_dir`: `toolchains/<archive_id>`
/// (unpacked once, see ``UnpackedToolchains``) and `builds/<job>-<n>/{upper,work,root}`, removed after the job.
public struct OverlaySandbox: BuildSandbox {
    let buildDirectory: String
    let bubblewrapPath: String
    let limits: SandboxLimits
    /// Whether jobs mount their overlay in a user namespace of their own rather than on the host.
    public let rootless: Bool
    /// The unpacked toolchains (lower layers) this sandbox keeps.
    public let toolchains: UnpackedToolchains
    private let sequence = JobSequence()
    private let host = PreparedHost()

    /// - Parameter rootless: nil chooses by the server's user: rootless unless it runs as root.
    public init(
        buildDirectory: String, bubblewrapPath: String, toolchainBudget: UInt64, limits: SandboxLimits = SandboxLimits(), rootless: Bool? = nil
    ) {
        // Normalized because it is compared with the mount points of /proc/self/mountinfo.
        self.buildDirectory = "/" + buildDirectory.split(separator: "/").joined(separator: "/")
        self.bubblewrapPath = bubblewrapPath
        self.limits = limits
        self.rootless = rootless ?? (geteuid() != 0)
        toolchains = UnpackedToolchains(root: "\(self.buildDirectory)/toolchains", budget: toolchainBudget)
    }

    /// Checks bwrap (and, rootless, the namespaces), detaches mounts left by an earlier run, empties `build_dir`
    /// (as upstream does) and finds how the job limits can be enforced here.
    public func prepare() async throws {
        guard rootless || geteuid() == 0 else {
            throw SandboxError(
                .unavailable, "the overlay builder's root mode mounts overlayfs on the host; run builder-server as root, or set rootless = true")
        }
        let probe = try await ProcessRunner(timeout: .seconds(10), maxStreamBytes: 4096).run(bubblewrapPath, ["--version"], environment: [:])
        guard probe.termination == .exited(0) else {
            throw SandboxError(.unavailable, "'\(bubblewrapPath) --version' failed; install bubblewrap (apt install bubblewrap) or fix bwrap_path")
        }
        if !rootless {
            let stuck = OverlayMount.unmountAll(under: buildDirectory)
            guard stuck.isEmpty else { throw SandboxError(.setup, "cannot unmount \(stuck) left under build_dir; unmount them by hand") }
        }
        try await RootlessOverlay.removeTree(buildDirectory)
        let overlay = rootless ? try await RootlessOverlay.check(bubblewrapPath: bubblewrapPath, scratch: buildDirectory + "/probe") : nil
        let directory = buildDirectory
        try await BlockingWork.run {
            for child in ["builds", "toolchains"] {
                try FileManager.default.createDirectory(atPath: directory + "/" + child, withIntermediateDirectories: true)
            }
        }
        host.set(try JobLimitEnforcement(limits: limits, runsAsRoot: geteuid() == 0), overlay)
    }

    public var enforcementReport: String {
        (rootless ? "overlay sandbox, rootless (user namespaces); " : "overlay sandbox as root; ") + (host.enforcement?.report ?? "not prepared")
    }

    public func run(_ job: SandboxJob) async throws -> JobComplete {
        guard let enforcement = host.enforcement else { throw SandboxError(.setup, "the overlay sandbox was not prepared") }
        let lease = try await toolchains.acquire(job.toolchain, archivePath: job.toolchainArchivePath, onUnpacked: job.onToolchainUnpacked)
        let number = sequence.next()
        let jobDirectory = "\(buildDirectory)/builds/\(job.id)-\(number)"
        var cgroup: JobCgroup?
        do {
            cgroup = try enforcement.cgroups.map { try JobCgroup(name: JobCgroup.uniqueName(), in: $0, limits: limits) }
            let result = try await runJob(job, enforcement: enforcement, cgroup: cgroup, lowerLayer: lease.directory, jobDirectory: jobDirectory)
            await finish(jobDirectory: jobDirectory, cgroup: cgroup, lease: lease)
            return result
        } catch {
            await finish(jobDirectory: jobDirectory, cgroup: cgroup, lease: lease)
            throw error
        }
    }

    private func runJob(
        _ job: SandboxJob, enforcement: JobLimitEnforcement, cgroup: JobCgroup?, lowerLayer: String, jobDirectory: String
    ) async throws -> JobComplete {
        let layout = try JobLayout(command: job.command, outputs: job.outputs)
        let (upper, work, root) = (jobDirectory + "/upper", jobDirectory + "/work", jobDirectory + "/root")
        // Rootless, the server never sees the mount: the job's files are its upper layer.
        let files = rootless ? upper : root
        let rootless = rootless
        try await BlockingWork.run {
            for layer in [upper, work, root] { try FileManager.default.createDirectory(atPath: layer, withIntermediateDirectories: true) }
            if !rootless { try OverlayMount.mount(lower: lowerLayer, upper: upper, work: work, at: root) }
            do {
                try SafeExtractor(limits: .jobInputs).extract(file: job.inputsTarPath, into: files)
            } catch let error as ArchiveError {
                throw SandboxError(.setup, "the job's inputs do not unpack: \(error.message)", cause: error.cause)
            }
            for directory in layout.directories { try SandboxPaths.makeDirectories(directory, under: files) }
        }
        var command = [bubblewrapPath] + BubblewrapCommand.arguments(root: root, command: job.command)
        if let overlay = host.overlay { command = try overlay.command(lower: lowerLayer, upper: upper, work: work, root: root, then: command) }
        let launch = enforcement.launch(command, cgroup: cgroup)
        let runner = ProcessRunner(timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes)
        let run = { @Sendable in try await runner.run(launch[0], Array(launch.dropFirst()), environment: [:]) }
        job.onCompilerStart?()
        let outcome = try await DiskUsageWatch.run(run, watching: upper, limit: limits.diskBytes)
        if let exceeded = cgroup?.exceededLimits(), !exceeded.isEmpty {
            throw SandboxError(
                .limitExceeded, "the job hit its \(exceeded.joined(separator: " and ")) limit; raise [job_limits] if compiles need more")
        }
        return JobComplete(
            output: try outcome.processOutput(),
            outputs: try await layout.readOutputs(under: files, limit: limits.maxOutputFileBytes, total: limits.maxOutputBytes))
    }

    /// Kills what is left of the job, then unmounts (as root) and deletes its directories. If the unmount fails
    /// the directory is left alone: deleting through a live overlay would reach into the shared toolchain.
    private func finish(jobDirectory: String, cgroup: JobCgroup?, lease: UnpackedToolchains.Lease) async {
        if let cgroup { _ = try? await BlockingWork.run { cgroup.destroy() } }
        if rootless || OverlayMount.unmount(jobDirectory + "/root") { try? await RootlessOverlay.removeTree(jobDirectory) }
        await toolchains.release(lease)
    }
}

/// What ``OverlaySandbox/prepare()`` found out about the host.
final class PreparedHost: Sendable {
    private let state = Mutex<(JobLimitEnforcement?, RootlessOverlay?)>((nil, nil))
    var enforcement: JobLimitEnforcement? { state.withLock { $0.0 } }
    var overlay: RootlessOverlay? { state.withLock { $0.1 } }
    func set(_ enforcement: JobLimitEnforcement, _ overlay: RootlessOverlay?) { state.withLock { $0 = (enforcement, overlay) } }
}

/// Numbers job directories so a duplicate job id never shares one.
final class JobSequence: Sendable {
    private let counter = Mutex(0)
    func next() -> Int {
        counter.withLock {
            $0 += 1; return $0
        }
    }
}
