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

    /// Buckets from 10 ms to 10 min.
    public static let compileBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
    ]

    /// Every duration series of Kiln, each with ``compileBuckets``.
    public static let durationSeries = [
        schedulerJobDuration, schedulerQueueWait, builderJobDuration, builderSlotWait, builderSandboxSetup, builderCompile,
        builderToolchainUnpack,
    ]
}
