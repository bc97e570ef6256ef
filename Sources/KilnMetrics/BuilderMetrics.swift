import BuilderCore
import CoreMetrics
import Metrics
import SchedulerCore

/// A build server's series. Every label takes one of a fixed set of values (an enum here).
public struct BuilderMetrics: Sendable {
    /// How a run_job ended.
    public enum JobOutcome: String, CaseIterable, Sendable {
        /// The compiler exited 0.
        case succeeded
        /// The compiler exited non-zero: a result, returned to the client.
        case compileFailed = "compile_failed"
        /// The sandbox could not run it (limits, deadline, bad inputs): the client compiles locally.
        case sandboxError = "sandbox_error"
    }

    /// Where a job's result came from.
    public enum ResultSource: String, CaseIterable, Sendable {
        case hit, shared, coalesced, built
    }

    /// What happened in the farm-wide (Redis) tier of the result cache.
    public enum SharedCacheEvent: String, CaseIterable, Sendable {
        case hit, miss, publish
        case leaseWait = "lease_wait"
        case damaged, error
    }

    private let jobs: [JobOutcome: Counter]
    /// The same, by who asked: an sccache client or a REAPI action (the two kinds share the slots).
    private let jobsByKind: [JobKind: [JobOutcome: Counter]]
    private let runningByKind: [JobKind: Gauge]
    private let results: [ResultSource: Counter]
    private let sharedCache: [SharedCacheEvent: Counter]
    private let toolchainLookups: [Bool: Counter]
    private let heartbeats: [Bool: Counter]
    /// From run_job's arrival to its answer.
    public let jobDuration: Metrics.Timer
    /// Waiting for a free slot.
    public let slotWait: Metrics.Timer
    /// From the sandbox taking a job to the compiler starting (toolchain, inputs, mounts or container).
    public let sandboxSetup: Metrics.Timer
    /// The compiler's own run.
    public let compile: Metrics.Timer
    /// Unpacking a toolchain archive (once per toolchain while it stays cached).
    public let toolchainUnpack: Metrics.Timer
    private let phases: [JobTimeline<ContinuousClock>.Phase: Metrics.Timer]
    public let toolchainCacheBytes: Gauge
    public let toolchainCacheEntries: Gauge
    public let resultCacheBytes: Gauge
    public let resultCacheEntries: Gauge
    public let slotsBusy: Gauge
    public let slotsTotal: Gauge
    public let draining: Gauge

    /// Series made by `factory` (the bootstrapped one by default; a test passes its own).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        func counters<Key: Hashable>(_ label: String, _ dimension: String, _ values: [(Key, String)]) -> [Key: Counter] {
            Dictionary(uniqueKeysWithValues: values.map { ($0.0, Counter(label: label, dimensions: [(dimension, $0.1)], factory: factory)) })
        }
        func timer(_ label: String) -> Metrics.Timer { Metrics.Timer(label: label, dimensions: [], factory: factory) }
        func gauge(_ label: String) -> Gauge { Gauge(label: label, dimensions: [], factory: factory) }
        jobs = counters("kiln_builder_jobs_total", "outcome", JobOutcome.allCases.map { ($0, $0.rawValue) })
        jobsByKind = Dictionary(
            uniqueKeysWithValues: JobKind.allCases.map { kind in
                let outcomes = JobOutcome.allCases.map { outcome in
                    let dimensions = [("kind", kind.rawValue), ("outcome", outcome.rawValue)]
                    return (outcome, Counter(label: "kiln_builder_jobs_by_kind_total", dimensions: dimensions, factory: factory))
                }
                return (kind, Dictionary(uniqueKeysWithValues: outcomes))
            })
        runningByKind = Dictionary(
            uniqueKeysWithValues: JobKind.allCases.map {
                ($0, Gauge(label: "kiln_builder_jobs_running_by_kind", dimensions: [("kind", $0.rawValue)], factory: factory))
            })
        results = counters("kiln_builder_results_total", "source", ResultSource.allCases.map { ($0, $0.rawValue) })
        sharedCache = counters("kiln_builder_shared_cache_total", "event", SharedCacheEvent.allCases.map { ($0, $0.rawValue) })
        toolchainLookups = counters("kiln_builder_toolchain_cache_lookups_total", "result", [(true, "hit"), (false, "miss")])
        heartbeats = counters("kiln_builder_heartbeats_total", "outcome", [(true, "sent"), (false, "failed")])
        jobDuration = timer(KilnMetricNames.builderJobDuration)
        slotWait = timer(KilnMetricNames.builderSlotWait)
        sandboxSetup = timer(KilnMetricNames.builderSandboxSetup)
        compile = timer(KilnMetricNames.builderCompile)
        toolchainUnpack = timer(KilnMetricNames.builderToolchainUnpack)
        phases = Dictionary(
            uniqueKeysWithValues: JobTimeline<ContinuousClock>.Phase.allCases.map {
                ($0, Metrics.Timer(label: KilnMetricNames.builderJobPhase, dimensions: [("phase", $0.rawValue)], factory: factory))
            })
        toolchainCacheBytes = gauge("kiln_builder_toolchain_cache_bytes")
        toolchainCacheEntries = gauge("kiln_builder_toolchain_cache_entries")
        resultCacheBytes = gauge("kiln_builder_result_cache_bytes")
        resultCacheEntries = gauge("kiln_builder_result_cache_entries")
        slotsBusy = gauge("kiln_builder_slots_busy")
        slotsTotal = gauge("kiln_builder_slots")
        draining = gauge("kiln_builder_draining")
    }

    /// A run_job that ended, in both series.
    public func count(_ outcome: JobOutcome, of kind: JobKind) {
        jobs[outcome]?.increment()
        jobsByKind[kind]?[outcome]?.increment()
    }
    /// The jobs of each kind running now.
    public func recordRunning(_ counts: [JobKind: Int]) {
        for (kind, gauge) in runningByKind { gauge.record(counts[kind] ?? 0) }
    }
    public func count(_ source: ResultSource) { results[source]?.increment() }
    public func countShared(_ event: SharedCacheEvent) { sharedCache[event]?.increment() }
    /// An assign_job: the toolchain was cached (`hit`) or must be uploaded.
    public func countToolchainLookup(hit: Bool) { toolchainLookups[hit]?.increment() }
    public func countHeartbeat(sent: Bool) { heartbeats[sent]?.increment() }
    /// Each phase of one run_job into its histogram.
    public func record(_ timeline: JobTimeline<ContinuousClock>) {
        for span in timeline.spans { phases[span.phase]?.record(duration: span.duration) }
    }
}
