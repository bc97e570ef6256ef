import ArchiveKit
import BlockingPool
import BuilderCore
import Foundation
import JobSpawn
import KilnProtocol

/// The pot builder (FreeBSD jails, protocol §8.5): a pot image per toolchain cloned from the template, a pool of
/// started containers cloned from it (each jail bounded by `rctl` rules), the job's inputs unpacked into the
/// container's root from the host side (owned by the jail user), the compile through `jexec -U` as that user with
/// only the job's environment, outputs read from the root without following symlinks,
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
        jails = PotJails(settings: settings, limits: limits)
        pool = ContainerPool(
            backend: jails, idleLimit: settings.idleContainersPerToolchain, budget: toolchainBudget, resetWorkers: settings.resetWorkers)
    }

    /// Checks pot answers and the template exists, then destroys the pots an earlier run left (containers first).
    public func prepare() async throws {
        guard settings.resolve(settings.jexecCommand) != nil else {
            throw SandboxError(.unavailable, "jexec_cmd '\(settings.jexecCommand)' is not an executable; the pot builder runs on FreeBSD")
        }
        await jails.checkResourceLimits()
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
        let rctl = jails.rctl.works
        let bounded = [
            limits.memoryBytes.map { "memory \($0) bytes" }, limits.maxProcesses.map { "processes \($0)" }, limits.cpus.map { "cpus \($0)" },
        ].compactMap { $0 }
        let byRctl =
            bounded.isEmpty
            ? "memory, processes and cpus unlimited"
            : bounded.joined(separator: ", ")
                + (rctl == true
                    ? " by rctl rules on each jail"
                    : " NOT enforced: rctl failed (set kern.racct.enable=1 in /boot/loader.conf and reboot, or install rctl_cmd)")
        let disk = limits.diskBytes.map { "files up to \($0) bytes each by ulimit -f; the jail's total disk use is not bounded" } ?? "disk unlimited"
        return
            "pot sandbox; jobs run as the jail's '\(settings.jailUser)' (jexec -U); job limits: timeout \(limits.timeout) (jexec's process group killed); \(byRctl); \(disk); \(limits.outputsReport)"
    }

    public func run(_ job: SandboxJob) async throws -> JobComplete {
        let archive = job.toolchainArchivePath
        guard try await BlockingWork.run({ HostRootToolchain.actionRoot(ofArchiveAt: archive) }) == nil else {
            throw SandboxError.remoteActionsUnsupported(by: "pot")
        }
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
        let user = try await BlockingWork.run { [settings] in try PotSandbox.jailUser(settings.jailUser, in: root) }
        try await SandboxRoot.placeInputs(of: job, into: root, layout: layout, user: user)
        try await job.onCompilerStart?()
        let outcome = try await jails.compile(in: container, job.command)
        job.onCompilerEnd?()
        return JobComplete(
            output: try outcome.processOutput(),
            outputs: try await layout.readOutputs(under: root, limit: limits.maxOutputFileBytes, total: limits.maxOutputBytes))
    }

    /// The uid and gid of `name` in the jail's `/etc/passwd` (under `root` on the host), which the job's inputs
    /// and directories get.
    static func jailUser(_ name: String, in root: String) throws -> JobProcess.User {
        let passwd = (try? String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)) ?? ""
        for line in passwd.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 4, fields[0] == name, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]), uid != 0 {
                return JobProcess.User(uid: uid, gid: gid)
            }
        }
        throw SandboxError(
            .setup, "the jail has no user '\(name)' other than root in its /etc/passwd; add it to the template pot or set jail_user")
    }

    /// Waits for the resets, then destroys the idle containers; the next start destroys the images.
    public func shutdown() async { await pool.drain() }

    /// Waits until every container given back has been reset, or removed (tests look at the pool afterwards).
    public func waitForResets() async { await pool.settle() }

    /// Idle containers per toolchain archive id.
    public var idleContainers: [String: Int] { get async { await pool.idleCounts } }
}
