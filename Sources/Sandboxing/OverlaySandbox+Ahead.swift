import ArchiveKit
import BlockingPool
import Foundation
import JobSpawn
import KilnProtocol

/// Sandboxes made ready before their jobs (root mode, with ``JobParker``): after each job, as many as the builder
/// runs at once are made for its toolchain in the background, each with its overlay mounted and bubblewrap
/// running (``SandboxAhead``). A job that finds one unpacks its inputs into it and hands its command to the stub.
extension OverlaySandbox {
    /// Starts making the sandboxes `toolchain` still lacks (in the background, waited for by ``settle()``), and
    /// gives up those of another toolchain.
    func makeSandboxesAhead(for toolchain: String, enforcement: JobLimitEnforcement) async {
        let (count, givenUp) = await ahead.wanted(for: toolchain)
        for sandbox in givenUp { await giveUp(sandbox) }
        for _ in 0..<count {
            await cleanups.start {
                let sandbox = await makeSandbox(for: toolchain, enforcement: enforcement)
                if let unwanted = await ahead.made(sandbox, for: toolchain) { await giveUp(unwanted) }
            }
        }
    }

    /// A ready sandbox of an unpacked toolchain, or nil (not unpacked, or something failed: the job then makes
    /// its own sandbox, as it always could).
    private func makeSandbox(for toolchain: String, enforcement: JobLimitEnforcement) async -> SandboxAhead? {
        guard let parker = JobParker.path, let lease = await toolchains.pinIfUnpacked(toolchain) else { return nil }
        let jobDirectory = "\(jobsDirectory)/ahead-\(sequence.next())"
        guard let launch = try? await launch(enforcement) else {
            await toolchains.release(lease)
            return nil
        }
        var process = launch.process
        if process == nil { process = try? await ParkedProcess.park(cgroupProcsFiles: launch.cgroup?.procsFiles ?? [], parker: parker).get() }
        let (root, user, spares, volatile) = (jobDirectory + "/root", jobUser, spares, volatileOverlay(for: toolchain))
        do {
            try await BlockingWork.run {
                try spares.make(jobDirectory, user: user)
                try OverlayMount.mount(
                    lower: lease.directory, upper: jobDirectory + "/upper", work: jobDirectory + "/work", at: root, volatile: volatile)
            }
        } catch {
            await finish(jobDirectory: jobDirectory, launch: (launch.cgroup, process), lease: lease)
            return nil
        }
        let bubblewrap = sandboxProcess(
            [bubblewrapPath]
                + BubblewrapCommand.arguments(
                    root: root, filtered: filterPath != nil, hostPaths: hostPaths(of: toolchain), then: JobParker.stubCommand), cgroup: nil,
            enforcement: enforcement)
        guard let process, process.startSandboxAhead(bubblewrap) else {
            await finish(jobDirectory: jobDirectory, launch: (launch.cgroup, process), lease: lease)
            return nil
        }
        return SandboxAhead(lease: lease, jobDirectory: jobDirectory, cgroup: launch.cgroup, process: process)
    }

    /// Runs `job` in a sandbox made ahead: its inputs go into the mounted root, its command to the stub.
    func run(_ job: SandboxJob, in sandbox: SandboxAhead) async throws -> JobComplete {
        let launch = (cgroup: sandbox.cgroup, process: Optional(sandbox.process))
        do {
            let layout = try JobLayout(command: job.command, outputs: job.outputs)
            let root = sandbox.jobDirectory + "/root"
            try await SandboxRoot.placeInputs(of: job, into: root, layout: layout, user: jobUser)
            let command = JobProcess(
                executable: job.command.executable, arguments: job.command.arguments, environment: job.command.environmentByName)
            let (limits, cwd) = (limits, job.command.cwd)
            let result = try await execute(job, layout: layout, files: root, upper: sandbox.jobDirectory + "/upper", cgroup: sandbox.cgroup) {
                await sandbox.process.launch(command, cwd: cwd, timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes)
            }
            await finish(jobDirectory: sandbox.jobDirectory, launch: launch, lease: sandbox.lease)
            return result
        } catch {
            await finish(jobDirectory: sandbox.jobDirectory, launch: launch, lease: sandbox.lease)
            throw error
        }
    }

    /// Gives up the ready sandboxes and makes no more (the drain has begun).
    public func stopWorkingAhead() async {
        for sandbox in await ahead.takeAll(stopping: true) { await giveUp(sandbox) }
    }

    /// A sandbox made ahead that no job will use: its processes killed, its overlay unmounted, its directory and
    /// cgroup removed, its toolchain released.
    func giveUp(_ sandbox: SandboxAhead) async {
        await finish(jobDirectory: sandbox.jobDirectory, launch: (sandbox.cgroup, sandbox.process), lease: sandbox.lease)
    }
}
