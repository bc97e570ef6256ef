/// Kiln's `[job_limits]` table: the bounds of every job, whatever the sandbox. All keys are optional; 0 turns a
/// limit off (except `timeout`, which always holds).
///
/// ```toml
/// [job_limits]
/// timeout = 600              # seconds; the job's processes are killed and the client compiles locally
/// memory = "4G"              # all of the job's processes together (cgroup), else per process (RLIMIT_AS)
/// processes = 1024           # processes and threads at once
/// cpus = 0                   # CPU bandwidth, 1.5 allowed; needs a cgroup
/// disk = "8G"                # what the job writes: its layer, and any one file
/// output_file_size = "1G"    # largest output returned
/// output_total_size = "2G"   # all outputs of a job together
/// stream_size = "16M"        # kept of stdout, and of stderr
/// ```
public struct JobLimitsConfiguration: Sendable, Hashable {
    public var timeoutSeconds = 600
    public var memoryBytes: UInt64? = 4 << 30
    public var processes: Int? = 1024
    public var cpus: Double?
    public var diskBytes: UInt64? = 8 << 30
    public var outputFileBytes: UInt64 = 1 << 30
    public var outputTotalBytes: UInt64 = 2 << 30
    public var streamBytes: UInt64 = 16 << 20

    public init() {}

    init(reading table: inout TOMLTableReader) throws {
        if let timeout = try table.integer("timeout") {
            guard timeout > 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("timeout"), "must be at least 1 second") }
            timeoutSeconds = timeout
        }
        if let memory = try table.byteCount("memory") { memoryBytes = memory == 0 ? nil : memory }
        if let processes = try table.integer("processes") {
            guard processes >= 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("processes"), "must be 0 (unlimited) or more") }
            self.processes = processes == 0 ? nil : processes
        }
        if let cpus = try table.number("cpus") {
            guard cpus >= 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("cpus"), "must be 0 (unlimited) or more") }
            self.cpus = cpus == 0 ? nil : cpus
        }
        if let disk = try table.byteCount("disk") { diskBytes = disk == 0 ? nil : disk }
        outputFileBytes = try positive("output_file_size", in: &table) ?? outputFileBytes
        outputTotalBytes = try positive("output_total_size", in: &table) ?? outputTotalBytes
        streamBytes = try positive("stream_size", in: &table) ?? streamBytes
    }

    private func positive(_ key: String, in table: inout TOMLTableReader) throws -> UInt64? {
        guard let value = try table.byteCount(key) else { return nil }
        guard value > 0, value <= 1 << 40 else { throw ConfigurationError(.invalidValue, key: table.keyPath(key), "must be above 0 and at most 1T") }
        return value
    }
}
