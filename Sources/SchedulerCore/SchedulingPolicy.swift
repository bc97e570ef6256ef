/// The numbers the scheduler decides by (protocol §7.1–7.2), with sccache's values as defaults.
public struct SchedulingPolicy: Sendable, Hashable {
    /// A server with no heartbeat for this long is dead and is pruned, with its jobs.
    public var heartbeatTimeout: Duration = .seconds(90)
    /// A server silent for longer than this (a heartbeat period, 30 s, and half another) gets no new job: it missed a
    /// heartbeat, most likely because it died. It is pruned only after ``heartbeatTimeout``, as upstream does.
    public var heartbeatMissed: Duration = .seconds(45)
    /// A server whose `assign_job` failed gets no job until its next heartbeat proves it alive, then is only a
    /// last resort for this long.
    public var errorQuarantine: Duration = .seconds(300)
    /// A job not started this long after its `alloc_job` is dropped, whatever its state (`unstarted_job_timeout`;
    /// sccache-dist drops Pending jobs after 300 s).
    public var unstartedJobTimeout: Duration = .seconds(300)
    /// A Ready job (its toolchain is there) not started this long after its `alloc_job` is dropped: its client would
    /// have sent `run_job` at once, so it died. sccache-dist's value; never longer than ``unstartedJobTimeout``.
    public var readyJobExpiry: Duration = .seconds(60)
    /// A Started job whose Complete has not come this long after it started is dropped (`job_lease`): the report
    /// was lost, or the builder lost the job. sccache's clients give up after 1,200 s (600 s before 0.9), and a Kiln
    /// builder stops a build whose client went away, so nobody waits for such a job any more.
    public var jobLease: Duration = .seconds(1260)

    /// The most build servers registered at once: a new one beyond is refused (with `DANGEROUSLY_INSECURE` server
    /// auth anyone can claim any address, and each is kept with its certificate).
    public var maxServers = 4096
    /// The most jobs in flight across the farm: `alloc_job` beyond answers "insufficient capacity". Far above what
    /// 4,096 servers of ordinary size hold; it bounds the job table whatever servers claim.
    public var maxJobs = 100_000
    /// The most toolchains remembered per server (for placing jobs where their toolchain is); past it the oldest
    /// learned are forgotten, which only costs a possible re-upload.
    public var maxToolchainsPerServer = 1024

    public init() {}

    /// sccache HEAD's per-server cap: cores + 1 + cores/8 concurrent jobs. A server that reports no cores is
    /// draining (a Kiln builder on SIGTERM) and gets no job; sccache-dist's scheduler skips it too (its load is
    /// infinite).
    public static func jobCap(cores: Int) -> Int {
        let cores = clampedCPUs(cores)
        return cores == 0 ? 0 : cores + 1 + cores / 8
    }

    /// The most CPUs a server is believed to have. `num_cpus` comes off the wire (any u64 from anyone holding
    /// server credentials): kept as is, `cores + 1` and the farm's sums would overflow and trap.
    public static let maxCPUs = 1 << 16

    /// `num_cpus` as the scheduler counts it: between 0 (a draining server) and ``maxCPUs``.
    public static func clampedCPUs(_ reported: Int) -> Int { min(max(reported, 0), maxCPUs) }
}
