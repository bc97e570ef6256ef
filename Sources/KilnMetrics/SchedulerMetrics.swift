import CoreMetrics
import Metrics
import SchedulerCore

/// The scheduler's series. Every label takes one of a fixed set of values (an enum here), so the number of
/// series never grows with servers, jobs or toolchains.
public struct SchedulerMetrics: Sendable {
    /// What became of an `alloc_job`, and of the jobs it placed.
    public enum JobOutcome: String, CaseIterable, Sendable {
        /// A server took the job.
        case assigned
        /// No server had room: the client compiles locally.
        case noCapacity = "no_capacity"
        /// The chosen server refused or did not answer `assign_job`.
        case assignFailed = "assign_failed"
        /// The server reported it Complete.
        case completed
        /// Dropped unfinished: its server died or restarted, or it never started in time.
        case dropped
    }

    /// A heartbeat: a server's first, a known server's, or one refused.
    public enum HeartbeatKind: String, CaseIterable, Sendable {
        case registered, renewed, refused
    }

    /// A phase of `alloc_job`: choosing the server, signing the job token, the server's `assign_job` answer.
    public enum AllocPhase: String, CaseIterable, Sendable {
        case place, sign
        case assignJob = "assign_job"
    }

    private let jobs: [JobOutcome: Counter]
    private let allocPhases: [AllocPhase: Metrics.Timer]
    private let heartbeats: [HeartbeatKind: Counter]
    /// Jobs assigned and completed, by who asked for them (sccache clients, REAPI actions).
    private let jobsByKind: [JobKind: (assigned: Counter, completed: Counter)]
    private let inFlightByKind: [JobKind: Gauge]
    /// From `alloc_job` to Complete.
    public let jobDuration: Metrics.Timer
    /// From `alloc_job` to Started: the upload of toolchain and inputs, and the wait for a slot.
    public let queueWait: Metrics.Timer
    public let serversKnown: Gauge
    public let slotsBusy: Gauge
    public let slotsTotal: Gauge
    public let jobsInFlight: Gauge

    /// Series made by `factory` (the bootstrapped one by default; a test passes its own).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        jobs = Dictionary(
            uniqueKeysWithValues: JobOutcome.allCases.map {
                ($0, Counter(label: "kiln_scheduler_jobs_total", dimensions: [("outcome", $0.rawValue)], factory: factory))
            })
        heartbeats = Dictionary(
            uniqueKeysWithValues: HeartbeatKind.allCases.map {
                ($0, Counter(label: "kiln_scheduler_heartbeats_total", dimensions: [("kind", $0.rawValue)], factory: factory))
            })
        allocPhases = Dictionary(
            uniqueKeysWithValues: AllocPhase.allCases.map {
                ($0, Metrics.Timer(label: KilnMetricNames.schedulerAllocPhase, dimensions: [("phase", $0.rawValue)], factory: factory))
            })
        jobsByKind = Dictionary(
            uniqueKeysWithValues: JobKind.allCases.map { kind in
                let counter = { (outcome: JobOutcome) in
                    Counter(
                        label: "kiln_scheduler_jobs_by_kind_total", dimensions: [("kind", kind.rawValue), ("outcome", outcome.rawValue)],
                        factory: factory)
                }
                return (kind, (counter(.assigned), counter(.completed)))
            })
        inFlightByKind = Dictionary(
            uniqueKeysWithValues: JobKind.allCases.map {
                ($0, Gauge(label: "kiln_scheduler_jobs_in_flight_by_kind", dimensions: [("kind", $0.rawValue)], factory: factory))
            })
        jobDuration = Metrics.Timer(label: KilnMetricNames.schedulerJobDuration, dimensions: [], factory: factory)
        queueWait = Metrics.Timer(label: KilnMetricNames.schedulerQueueWait, dimensions: [], factory: factory)
        serversKnown = Gauge(label: "kiln_scheduler_servers", dimensions: [], factory: factory)
        slotsBusy = Gauge(label: "kiln_scheduler_slots_busy", dimensions: [], factory: factory)
        slotsTotal = Gauge(label: "kiln_scheduler_slots", dimensions: [], factory: factory)
        jobsInFlight = Gauge(label: "kiln_scheduler_jobs_in_flight", dimensions: [], factory: factory)
    }

    public func count(_ outcome: JobOutcome, by amount: Int = 1) {
        if amount > 0 { jobs[outcome]?.increment(by: amount) }
    }

    /// Counts `outcome` (``JobOutcome/assigned`` or ``JobOutcome/completed``) for a job of `kind` as well.
    public func count(_ outcome: JobOutcome, of kind: JobKind) {
        count(outcome)
        switch outcome {
        case .assigned: jobsByKind[kind]?.assigned.increment()
        case .completed: jobsByKind[kind]?.completed.increment()
        case .noCapacity, .assignFailed, .dropped: break
        }
    }

    /// Sets the in-flight gauges of each kind (`counts` by ``JobKind`` raw value).
    public func recordInFlight(byKind counts: [String: Int]) {
        for (kind, gauge) in inFlightByKind { gauge.record(counts[kind.rawValue] ?? 0) }
    }

    public func count(_ heartbeat: HeartbeatKind) { heartbeats[heartbeat]?.increment() }

    /// Records one phase of an `alloc_job`, from `begin` until now.
    public func record(_ phase: AllocPhase, since begin: ContinuousClock.Instant) {
        allocPhases[phase]?.record(duration: begin.duration(to: .now))
    }
}
