/// The numbers the scheduler decides by (protocol §7.1–7.2), with sccache's values as defaults.
public struct SchedulingPolicy: Sendable, Hashable {
    /// A server with no heartbeat for this long is dead and is pruned, with its jobs.
    public var heartbeatTimeout: Duration = .seconds(90)
    /// A server whose `assign_job` failed is only a last resort for this long.
    public var errorQuarantine: Duration = .seconds(300)
    /// A job never started and still Pending after this long is dropped.
    public var pendingJobExpiry: Duration = .seconds(300)
    /// A job never started and Ready for this long is dropped.
    public var readyJobExpiry: Duration = .seconds(60)

    /// The most build servers registered at once: a new one beyond is refused (with `DANGEROUSLY_INSECURE` server
    /// auth anyone can claim any address, and each is kept with its certificate).
    public var maxServers = 4096

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
