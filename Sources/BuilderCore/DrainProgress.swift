/// When a draining build server may exit, with no I/O: once no run_job is in progress and no assigned job is
/// still waiting for its client (those get a short grace, since a client that compiled locally never comes), or
/// when the drain deadline has passed.
public struct DrainProgress<C: Clock>: Sendable where C.Instant: Sendable, C.Duration: Sendable {
    public enum Decision: Sendable, Equatable {
        case wait
        case drained
        case deadlinePassed
    }

    public let started: C.Instant
    /// The longest the drain waits for running jobs.
    public let deadline: C.Duration
    /// How long assigned jobs whose client has not sent run_job yet are waited for.
    public let assignedGrace: C.Duration

    public init(started: C.Instant, deadline: C.Duration, assignedGrace: C.Duration) {
        self.started = started
        self.deadline = deadline
        self.assignedGrace = assignedGrace
    }

    /// The next instant at which time alone can change the decision: the end of the grace for assigned jobs,
    /// then the deadline.
    public func nextTimeToDecide(after now: C.Instant) -> C.Instant {
        let graceEnds = started.advanced(by: assignedGrace)
        return now < graceEnds ? graceEnds : started.advanced(by: deadline)
    }

    public func decide(running: Int, assigned: Int, now: C.Instant) -> Decision {
        let elapsed = started.duration(to: now)
        if running == 0 && (assigned == 0 || elapsed >= assignedGrace) { return .drained }
        return elapsed >= deadline ? .deadlinePassed : .wait
    }
}
