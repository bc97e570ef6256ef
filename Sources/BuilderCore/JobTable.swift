import KilnProtocol

/// The jobs a build server was assigned and has not run yet: `job_id → toolchain` (protocol §2.6, §2.8).
///
/// Upstream asserts that an id is new and panics on a duplicate (a scheduler restarted and reused ids); here a
/// duplicate replaces the old entry. Jobs assigned and never run are forgotten after ``maxAge``, so a client
/// that gave up cannot grow the table without bound.
public struct JobTable<C: Clock>: Sendable where C.Instant: Sendable {
    private struct Entry: Sendable {
        var toolchain: Toolchain
        var assignedAt: C.Instant
    }

    private var entries: [JobID: Entry] = [:]
    /// How long an assigned job may wait for its `run_job`. The scheduler drops Pending jobs after 300 s.
    public let maxAge: C.Duration

    public init(maxAge: C.Duration) { self.maxAge = maxAge }

    /// Records `job → toolchain`. Returns true when it replaced an entry with the same id.
    @discardableResult
    public mutating func assign(_ job: JobID, toolchain: Toolchain, now: C.Instant) -> Bool {
        entries.updateValue(Entry(toolchain: toolchain, assignedAt: now), forKey: job) != nil
    }

    /// The toolchain of an assigned job, leaving the job in place (submit_toolchain).
    public func toolchain(of job: JobID) -> Toolchain? { entries[job]?.toolchain }

    /// When an assigned job was assigned.
    public func assignedAt(_ job: JobID) -> C.Instant? { entries[job]?.assignedAt }

    /// Takes the job out of the table for running it (run_job): a second run of the same id finds nothing.
    public mutating func claim(_ job: JobID) -> Toolchain? { entries.removeValue(forKey: job)?.toolchain }

    /// Forgets jobs assigned more than ``maxAge`` ago and returns their ids.
    @discardableResult
    public mutating func expire(now: C.Instant) -> [JobID] {
        let stale = entries.filter { $0.value.assignedAt.advanced(by: maxAge) < now }.map(\.key)
        for job in stale { entries[job] = nil }
        return stale.sorted()
    }

    public var count: Int { entries.count }
}
