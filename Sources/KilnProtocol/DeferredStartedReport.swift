/// Kiln's extension of job_state (protocol §2.5) that spares its scheduler a request for most jobs. sccache-dist's
/// server reports every job Started as its run_job arrives, then Complete; a Kiln build server talking to a Kiln
/// scheduler that announced the extension reports Started only for a job still running after ``deferral``, and a
/// shorter job goes from Ready to Complete in one report. Whichever report first moves a job out of Ready says how
/// long ago its run_job arrived (``startedAgoHeader``), so the scheduler still knows when it started: its queue
/// wait and lease are as if Started had been sent then. sccache-dist's scheduler never announces it, and its build
/// servers never use it.
///
/// Only a run_job that arrives within ``freshness`` of its assign_job is deferred. The scheduler forgets a job
/// that was not started at the earliest a second after its alloc_job (`unstarted_job_timeout` = 1), so such a job
/// has either ended or reported Started before the scheduler may have forgotten it; a later run_job reports Started
/// first and waits for it, and the token of a job the scheduler has reaped runs nothing.
public enum DeferredStartedReport {
    /// The header of a heartbeat answer by which a scheduler announces that it takes the extension.
    public static let capabilityHeader = "Kiln-Job-States"
    /// Its value.
    public static let capability = "complete-from-ready"
    /// On the report that moves a job out of Ready: microseconds since its run_job arrived.
    public static let startedAgoHeader = "Kiln-Started-Ago-Us"
    /// How long a job runs before its Started report is sent.
    public static let deferral: Duration = .milliseconds(250)
    /// How soon after its assign_job a run_job must arrive for its Started report to be deferred.
    public static let freshness: Duration = .milliseconds(500)

    /// The header's value for `ago`.
    public static func headerValue(_ ago: Duration) -> String {
        let (seconds, attoseconds) = ago.components
        return String(max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }

    /// The duration a header value names; nil for anything but a non-negative number of microseconds under a day.
    public static func duration(ofHeader value: String?) -> Duration? {
        guard let value, let micros = Int64(value), (0..<86_400_000_000).contains(micros) else { return nil }
        return .microseconds(micros)
    }
}
