import JobSpawn

/// A job's sandbox made ready before the job (root mode): its directory with the toolchain's overlay mounted, its
/// cgroup, and bubblewrap already running with every namespace and mount in place, its stub waiting for the
/// job's command (``ParkedProcess/startSandboxAhead(_:)``). The job then pays for its inputs and its compiler only.
struct SandboxAhead: Sendable {
    let lease: UnpackedToolchains.Lease
    let jobDirectory: String
    let cgroup: JobCgroup?
    let process: ParkedProcess
}

/// The sandboxes made ready for the toolchain of the latest job, as many as the builder runs jobs at once. A job
/// of another toolchain makes its own sandbox; the ready ones are then given up for its toolchain's.
actor SandboxesAhead {
    private var toolchain: String?
    private var ready: [SandboxAhead] = []
    private var preparing = 0
    private var stopped = false
    let target: Int

    init(target: Int) { self.target = target }

    /// A ready sandbox of `toolchain`, or nil.
    func take(_ toolchain: String) -> SandboxAhead? {
        guard toolchain == self.toolchain, !ready.isEmpty else { return nil }
        return ready.removeFirst()
    }

    /// How many sandboxes of `toolchain` to start making now; those of another toolchain are returned, to be
    /// given up.
    func wanted(for toolchain: String) -> (count: Int, givenUp: [SandboxAhead]) {
        guard !stopped, target > 0 else { return (0, []) }
        var givenUp: [SandboxAhead] = []
        if toolchain != self.toolchain {
            givenUp = ready
            ready = []
            self.toolchain = toolchain
        }
        let count = max(0, target - ready.count - preparing)
        preparing += count
        return (count, givenUp)
    }

    /// Takes a sandbox made for `toolchain`; returns it when it is not wanted any more (to be given up).
    func made(_ sandbox: SandboxAhead?, for toolchain: String) -> SandboxAhead? {
        preparing -= 1
        guard let sandbox else { return nil }
        guard !stopped, toolchain == self.toolchain else { return sandbox }
        ready.append(sandbox)
        return nil
    }

    /// Returns the ready ones, to be given up; with `stopping`, makes no more.
    func takeAll(stopping: Bool) -> [SandboxAhead] {
        stopped = stopped || stopping
        toolchain = nil
        defer { ready = [] }
        return ready
    }
}
