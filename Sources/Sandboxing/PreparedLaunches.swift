import JobSpawn

/// A job cgroup with the job's first process already in it, waiting for its command (``ParkedProcess``).
struct PreparedLaunch: Sendable {
    let cgroup: JobCgroup
    let process: ParkedProcess
}

/// Keeps a few ``PreparedLaunch``es ready, so that a job neither makes its cgroup nor waits for the kernel to
/// move its first process into it (an RCU grace period per move). Each one taken is replaced in the background.
/// Without cgroups, or without ``JobParker``, there is nothing to prepare; when preparing fails, jobs make their
/// own as before.
actor PreparedLaunches {
    private let hierarchy: CgroupHierarchy?
    private let limits: SandboxLimits
    private let parker: String?
    private var target: Int
    private var ready: [PreparedLaunch] = []
    private var preparing = 0
    private var stopped = false

    init(hierarchy: CgroupHierarchy?, limits: SandboxLimits, count: Int, parker: String? = JobParker.path) {
        self.hierarchy = hierarchy
        self.limits = limits
        self.parker = parker
        target = hierarchy == nil || parker == nil ? 0 : count
    }

    /// A prepared launch, or nil when none is ready (the job then makes its own cgroup).
    func take() -> PreparedLaunch? {
        defer { refill() }
        return ready.isEmpty ? nil : ready.removeFirst()
    }

    /// Starts preparing launches until `count` are ready or under way.
    func refill() {
        guard !stopped, let hierarchy, let parker else { return }
        while ready.count + preparing < target {
            preparing += 1
            Task { prepared(await Self.prepare(in: hierarchy, limits: limits, parker: parker)) }
        }
    }

    private func prepared(_ launch: PreparedLaunch?) {
        preparing -= 1
        guard let launch else {
            target = 0  // this host refuses: every job makes its own launch from now on
            return
        }
        if stopped {
            Self.discard(launch)
        } else {
            ready.append(launch)
        }
    }

    /// Discards the ready launches (their processes are killed, their cgroups removed) and prepares no more.
    func stop() {
        stopped = true
        ready.forEach(Self.discard)
        ready = []
    }

    private static func prepare(in hierarchy: CgroupHierarchy, limits: SandboxLimits, parker: String) async -> PreparedLaunch? {
        guard let cgroup = try? JobCgroup(name: JobCgroup.uniqueName(), in: hierarchy, limits: limits) else { return nil }
        switch await ParkedProcess.park(cgroupProcsFiles: cgroup.procsFiles, parker: parker) {
        case .success(let process): return PreparedLaunch(cgroup: cgroup, process: process)
        case .failure:
            cgroup.destroy()
            return nil
        }
    }

    private static func discard(_ launch: PreparedLaunch) {
        launch.process.discard()
        launch.cgroup.destroy()
    }
}
