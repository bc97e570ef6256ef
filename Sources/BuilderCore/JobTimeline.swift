/// The phases of one run_job on a build server, each timed from its own start: what a job's farm-added time is
/// made of. Phases may overlap (the Started report runs while the inputs are unpacked), so their sum can exceed
/// the job's duration; a phase a job skips (a result cache hit builds nothing) is simply absent.
public struct JobTimeline<C: Clock>: Sendable where C.Duration == Duration {
    /// A phase of run_job. The raw value is its `phase` label in `/metrics` and its name in the debug log.
    public enum Phase: String, CaseIterable, Sendable {
        /// The request body read, its inputs tar inflated to the spool file (and hashed for the result cache).
        case requestRead = "request_read"
        /// `job_state` Started sent to the scheduler and answered.
        case startedReport = "started_report"
        /// The result cache consulted (or an identical running job waited for).
        case cacheLookup = "cache_lookup"
        /// Waiting for a free job slot.
        case slotWait = "slot_wait"
        /// From the sandbox taking the job to the compiler starting (toolchain, inputs, mounts or container).
        case sandboxSetup = "sandbox_setup"
        /// The compiler's own run, inside the sandbox.
        case compile
        /// The declared outputs read back and the sandbox cleaned.
        case outputsRead = "outputs_read"
        /// The result written to the result cache.
        case resultStore = "result_store"
        /// `job_state` Complete sent to the scheduler and answered.
        case completeReport = "complete_report"
        /// The answer encoded for the client.
        case responseEncode = "response_encode"
    }

    /// One timed phase: when it began (from the timeline's start) and how long it took.
    public struct Span: Sendable, Hashable {
        public var phase: Phase
        public var offset: Duration
        public var duration: Duration
    }

    public let start: C.Instant
    public private(set) var spans: [Span] = []

    public init(start: C.Instant) { self.start = start }

    /// Records `phase` as having run from `begin` to `end`.
    public mutating func record(_ phase: Phase, from begin: C.Instant, to end: C.Instant) {
        spans.append(Span(phase: phase, offset: start.duration(to: begin), duration: begin.duration(to: end)))
    }

    /// The duration of `phase`, if it was recorded (the sum, should it run twice).
    public func duration(of phase: Phase) -> Duration? {
        let matching = spans.filter { $0.phase == phase }
        return matching.isEmpty ? nil : matching.reduce(.zero) { $0 + $1.duration }
    }

    /// One line for the debug log, in the order the phases began: `request_read=1.20ms@0.00 started_report=…`.
    public var summary: String {
        spans.sorted { $0.offset < $1.offset }
            .map { "\($0.phase.rawValue)=\(Self.milliseconds($0.duration))ms@\(Self.milliseconds($0.offset))" }
            .joined(separator: " ")
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = (seconds * 100_000 + attoseconds / 10_000_000_000_000)
        let whole = hundredths / 100
        let fraction = abs(hundredths % 100)
        return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
