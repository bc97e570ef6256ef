import KilnProtocol

/// What the build server says to its scheduler: heartbeats and job_state updates. ``SchedulerLink`` says it over
/// HTTP; the in-process tests give the server a recording fake.
protocol SchedulerReporting: Sendable {
    /// Where the scheduler is, for the log.
    var schedulerURL: String { get }
    /// Registers or refreshes this server. Returns `is_new`.
    func heartbeat(_ request: HeartbeatServerHttpRequest) async throws -> Bool
    /// Reports a job's new state; throws unless the scheduler accepted it.
    func reportJobState(_ job: JobID, _ state: JobState) async throws
}
