/// Names of the duration series whose values can run to minutes (whole compiles), and the histogram buckets
/// they need: a metrics back end's defaults usually stop at 10 s.
public enum KilnMetricNames {
    public static let schedulerJobDuration = "kiln_scheduler_job_duration_seconds"
    public static let schedulerQueueWait = "kiln_scheduler_queue_wait_seconds"
    public static let builderJobDuration = "kiln_builder_job_duration_seconds"
    public static let builderSlotWait = "kiln_builder_slot_wait_seconds"
    public static let builderSandboxSetup = "kiln_builder_sandbox_setup_seconds"
    public static let builderCompile = "kiln_builder_compile_seconds"
    public static let builderToolchainUnpack = "kiln_builder_toolchain_unpack_seconds"
    /// One histogram per phase of run_job (label `phase`), see `JobTimeline`.
    public static let builderJobPhase = "kiln_builder_job_phase_seconds"
    /// One histogram per phase of alloc_job on the scheduler (label `phase`).
    public static let schedulerAllocPhase = "kiln_scheduler_alloc_phase_seconds"

    /// Buckets from 10 ms to 10 min.
    public static let compileBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
    ]

    /// Buckets from 250 µs to 10 s: the phases of a job, most of which take a millisecond or two.
    public static let phaseBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(10),
    ]

    /// Every duration series of Kiln with the buckets it needs.
    public static let histogramBuckets: [String: [Duration]] = [
        schedulerJobDuration: compileBuckets, schedulerQueueWait: compileBuckets, builderJobDuration: compileBuckets,
        builderSlotWait: compileBuckets, builderSandboxSetup: compileBuckets, builderCompile: compileBuckets,
        builderToolchainUnpack: compileBuckets, builderJobPhase: phaseBuckets, schedulerAllocPhase: phaseBuckets,
    ]
}
