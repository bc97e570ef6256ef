import ArchiveKit
import Foundation
import KilnProtocol

/// The pot builder (FreeBSD jails, protocol §8.5): a pot image per toolchain cloned from the template, a pool of
/// started containers cloned from it, the job's inputs unpacked into the container's root from the host side, the
/// compile through `jexec` with only the job's environment, outputs read from the root without following symlinks,
/// and the container stopped, reverted and started again in the background (destroyed when that fails).
///
/// Upstream creates directories and reads outputs with `jexec … mkdir`/`cat` (one process per output, and a
/// symlinked output is followed), leaks the builder's environment into the compile, runs `stop`/`revert`/`start`
/// with a bare `pot` whatever `pot_cmd` says, and busy-waits for a free cleanup thread before answering.
public struct PotSandbox: BuildSandbox {
    let settings: PotSandboxSettings
    let limits: SandboxLimits
    let jails: PotJails
    let pool: ContainerPool<PotJails>

    /// - Parameter toolchainBudget: the archive bytes of toolchain images kept when no job uses them.
    public init(settings: PotSandboxSettings, toolchainBudget: UInt64, limits: SandboxLimits = SandboxLimits()) {
        self.settings = settings
        self.limits = limits
        jails = PotJails(settings: settings)
        pool = ContainerPool(
            backend: jails, idleLimit: settings.idleContainersPerToolchain, budget: toolchainBudget, resetWorkers: settings.resetWorkers)
    }

    /// Checks pot answers and the template exists, then destroys the pots an earlier run left (containers first).
    public func prepare() async throws {
        guard settings.resolve(settings.jexecCommand) != nil else {
            throw SandboxError(.unavailable, "jexec_cmd '\(settings.jexecCommand)' is not an executable; the pot builder runs on FreeBSD")
        }
        let listing = try await jails.list()
        guard listing.split(whereSeparator: \.isWhitespace).contains(Substring(settings.cloneFrom)) else {
            throw SandboxError(
                .unavailable,
                "the template pot '\(settings.cloneFrom)' does not exist; create it as deploy/freebsd/README.md shows, or set clone_from")
        }
        var failures: [String] = []
        for stale in PotCommandLine.stalePots(in: listing) {
            do { try await jails.destroy(stale) } catch { failures.append(stale) }
        }
        guard failures.isEmpty else {
            throw SandboxError(.setup, "cannot destroy the pots \(failures) left by an earlier run; destroy them with 'pot destroy -F -p NAME'")
        }
    }

    public var enforcementReport: String {
        "pot sandbox; job limits: timeout \(limits.timeout) (jexec's process group killed); \(limits.outputsReport); memory, processes, cpus and disk not enforced (no rctl yet)"
    }

    public func run(_ job: SandboxJob) async throws -> JobComplete {
        let layout = try JobLayout(command: job.command, outputs: job.outputs)
        let lease = try await pool.acquire(job.toolchain, archivePath: job.toolchainArchivePath, onUnpacked: job.onToolchainUnpacked)
        do {
            let result = try await runInContainer(job, layout: layout, container: lease.container)
            await pool.release(lease) { [jails] in await jails.reset($0) }
            return result
        } catch {
            await pool.release(lease) { [jails] in await jails.reset($0) }
            throw error
        }
    }

    private func runInContainer(_ job: SandboxJob, layout: JobLayout, container: String) async throws -> JobComplete {
        let root = settings.root(of: container)
        try await BlockingWork.run {
            do {
                try SafeExtractor(limits: .jobInputs).extract(file: job.inputsTarPath, into: root)
            } catch let error as ArchiveError {
                throw SandboxError(.setup, "the job's inputs do not unpack: \(error.message)", cause: error.cause)
            }
            for directory in layout.directories { try SandboxPaths.makeDirectories(directory, under: root) }
        }
        job.onCompilerStart?()
        let outcome = try await jails.compile(in: container, job.command, limits: limits)
        job.onCompilerEnd?()
        return JobComplete(
            output: try outcome.processOutput(),
            outputs: try await layout.readOutputs(under: root, limit: limits.maxOutputFileBytes, total: limits.maxOutputBytes))
    }

    /// Waits for the resets, then destroys the idle containers; the next start destroys the images.
    public func shutdown() async { await pool.drain() }

    /// Waits until every container given back has been reset, or removed (tests look at the pool afterwards).
    public func waitForResets() async { await pool.settle() }

    /// Idle containers per toolchain archive id.
    public var idleContainers: [String: Int] { get async { await pool.idleCounts } }
}
