import ArchiveKit
import Foundation
import KilnProtocol
import Synchronization

/// The overlay builder (protocol §8.4): the unpacked toolchain is the read-only lower layer of an overlayfs, the
/// job writes to its own upper layer, the inputs are unpacked into the merged root, and the compiler runs there
/// under bubblewrap with every namespace unshared and no capabilities.
///
/// Layout under `build_dir`: `toolchains/<archive_id>` (unpacked once, see ``UnpackedToolchains``) and
/// `builds/<job>-<n>/{upper,work,root}`, mounted for the job only and removed right after it.
public struct OverlaySandbox: BuildSandbox {
    let buildDirectory: String
    let bubblewrapPath: String
    let limits: SandboxLimits
    /// The unpacked toolchains (lower layers) this sandbox keeps.
    public let toolchains: UnpackedToolchains
    private let sequence = JobSequence()

    public init(buildDirectory: String, bubblewrapPath: String, toolchainBudget: UInt64, limits: SandboxLimits = SandboxLimits()) {
        // Normalized because it is compared with the mount points of /proc/self/mountinfo.
        self.buildDirectory = "/" + buildDirectory.split(separator: "/").joined(separator: "/")
        self.bubblewrapPath = bubblewrapPath
        self.limits = limits
        toolchains = UnpackedToolchains(root: "\(self.buildDirectory)/toolchains", budget: toolchainBudget)
    }

    /// Checks bwrap, detaches mounts left by an earlier run, and empties `build_dir` (as upstream does).
    public func prepare() async throws {
        guard geteuid() == 0 else {
            throw SandboxError(.unavailable, "the overlay builder mounts overlayfs and needs root; run builder-server as root")
        }
        let probe = try await ProcessRunner(timeout: .seconds(10), maxStreamBytes: 4096)
            .run(bubblewrapPath, ["--version"], environment: [:])
        guard probe.termination == .exited(0) else {
            throw SandboxError(.unavailable, "'\(bubblewrapPath) --version' failed; install bubblewrap (apt install bubblewrap) or fix bwrap_path")
        }
        let stuck = OverlayMount.unmountAll(under: buildDirectory)
        guard stuck.isEmpty else {
            throw SandboxError(.setup, "cannot unmount \(stuck) left under build_dir; unmount them by hand")
        }
        let directory = buildDirectory
        try await BlockingWork.run {
            let files = FileManager.default
            if files.fileExists(atPath: directory) { try files.removeItem(atPath: directory) }
            try files.createDirectory(atPath: directory + "/builds", withIntermediateDirectories: true)
            try files.createDirectory(atPath: directory + "/toolchains", withIntermediateDirectories: true)
        }
    }

    public func run(_ job: SandboxJob) async throws -> JobComplete {
        let lease = try await toolchains.acquire(job.toolchain, archivePath: job.toolchainArchivePath)
        let jobDirectory = "\(buildDirectory)/builds/\(job.id)-\(sequence.next())"
        let root = jobDirectory + "/root"
        do {
            let result = try await runMounted(job, lowerLayer: lease.directory, jobDirectory: jobDirectory, root: root)
            await finish(jobDirectory: jobDirectory, root: root, lease: lease)
            return result
        } catch {
            await finish(jobDirectory: jobDirectory, root: root, lease: lease)
            throw error
        }
    }

    private func runMounted(_ job: SandboxJob, lowerLayer: String, jobDirectory: String, root: String) async throws -> JobComplete {
        let layout = try JobLayout(command: job.command, outputs: job.outputs)
        try await BlockingWork.run {
            let files = FileManager.default
            for layer in ["upper", "work", "root"] {
                try files.createDirectory(atPath: "\(jobDirectory)/\(layer)", withIntermediateDirectories: true)
            }
            try OverlayMount.mount(lower: lowerLayer, upper: jobDirectory + "/upper", work: jobDirectory + "/work", at: root)
            do {
                try SafeExtractor(limits: .jobInputs).extract(file: job.inputsTarPath, into: root)
            } catch let error as ArchiveError {
                throw SandboxError(.setup, "the job's inputs do not unpack: \(error.message)", cause: error.cause)
            }
            for directory in layout.directories { try SandboxPaths.makeDirectories(directory, under: root) }
        }
        let runner = ProcessRunner(timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes)
        let outcome = try await runner.run(bubblewrapPath, BubblewrapCommand.arguments(root: root, command: job.command), environment: [:])
        return JobComplete(output: try outcome.processOutput(), outputs: try await layout.readOutputs(under: root, limit: limits.maxOutputFileBytes))
    }

    /// Unmounts and deletes the job's directories. If the unmount fails the directory is left alone: deleting
    /// through a live overlay would reach into the shared toolchain.
    private func finish(jobDirectory: String, root: String, lease: UnpackedToolchains.Lease) async {
        if OverlayMount.unmount(root) {
            _ = try? await BlockingWork.run { try FileManager.default.removeItem(atPath: jobDirectory) }
        }
        await toolchains.release(lease)
    }
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
