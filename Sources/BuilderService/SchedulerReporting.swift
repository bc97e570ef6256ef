import KilnProtocol

/// What the build server says to its scheduler: heartbeats and job_state updates. ``SchedulerLink`` says it over
/// HTTP; the in-process tests give the server a recording fake.
protocol SchedulerReporting: Sendable {
    /// Where the scheduler is, for the log.
    var schedulerURL: String { get }
    /// Whether the scheduler announced ``DeferredStartedReport``: Started only for jobs still running after its
    /// deferral, Complete straight from Ready for the others.
    var defersStarted: Bool { get }
    /// Registers or refreshes this server. Returns `is_new`.
    func heartbeat(_ request: HeartbeatServerHttpRequest) async throws -> Bool
    /// Reports a job's new state; throws unless the scheduler accepted it. `startedAgo`, on the report that moves a
    /// job out of Ready to a scheduler that defers Started: how long ago its run_job arrived.
    func reportJobState(_ job: JobID, _ state: JobState, startedAgo: Duration?) async throws
}

extension SchedulerReporting {
    func reportJobState(_ job: JobID, _ state: JobState) async throws { try await reportJobState(job, state, startedAgo: nil) }
}
