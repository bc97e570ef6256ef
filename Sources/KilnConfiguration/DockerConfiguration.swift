/// Kiln's keys for `[builder] type = "docker"`, all optional: sccache-dist's docker builder has no keys, so its
/// files load unchanged.
///
/// ```toml
/// [builder]
/// type = "docker"
/// docker_socket = "/var/run/docker.sock"
/// base_image = "kiln-base:busybox"   # built by scripts/docker-base-image; also REAPI actions' image when they name none
/// run_as = "65532:65532"              # uid:gid of the compiles, never 0
/// memory_limit = 4294967296           # bytes per container, 0 = unlimited; default [job_limits] memory
/// pids_limit = 1024                   # processes per container, 0 = unlimited; default [job_limits] processes
/// cpus = 0                            # CPUs per container (1.5 allowed), 0 = unlimited; default [job_limits] cpus
/// idle_containers = 4                 # kept ready per toolchain
/// spare_containers = 1                # started ahead per toolchain, so jobs in a row need not wait for a reset
/// ```
public struct DockerConfiguration: Sendable, Hashable {
    public var socketPath = "/var/run/docker.sock"
    public var baseImage = "kiln-base:busybox"
    public var uid = 65532
    public var gid = 65532
    /// nil: from `[job_limits]`.
    public var memoryBytes: Int64?
    public var pidsLimit: Int64?
    public var cpus: Double?
    public var idleContainersPerToolchain = 4
    public var spareContainersPerToolchain = 1

    public init() {}

    init(reading table: inout TOMLTableReader) throws {
        socketPath = try table.string("docker_socket") ?? socketPath
        baseImage = try table.string("base_image") ?? baseImage
        if let user = try table.userIDs("run_as") { (uid, gid) = user }
        memoryBytes = try nonNegative("memory_limit", in: &table).map(Int64.init)
        pidsLimit = try nonNegative("pids_limit", in: &table).map(Int64.init)
        idleContainersPerToolchain = try nonNegative("idle_containers", in: &table) ?? idleContainersPerToolchain
        spareContainersPerToolchain = try nonNegative("spare_containers", in: &table) ?? spareContainersPerToolchain
        if let cpus = try table.number("cpus") {
            guard cpus >= 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("cpus"), "must be 0 (unlimited) or more") }
            self.cpus = cpus
        }
    }

    private func nonNegative(_ key: String, in table: inout TOMLTableReader) throws -> Int? {
        guard let value = try table.integer(key) else { return nil }
        guard value >= 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath(key), "must be 0 or more") }
        return value
    }
}
