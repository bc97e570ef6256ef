import DockerEngine

/// How the docker sandbox talks to the engine and bounds its containers.
public struct DockerSandboxSettings: Sendable, Hashable {
    /// The engine's unix socket.
    public var socketPath = "/var/run/docker.sock"
    /// The image toolchains are layered on. It must hold `/.kiln/busybox` (a static busybox) and a `/tmp`;
    /// `scripts/docker-base-image` builds the default from Debian's busybox-static, with no registry.
    public var baseImage = "kiln-base:busybox"
    /// The uid and gid compiles run as (never root).
    public var uid = 65532
    public var gid = 65532
    /// Per container; 0 means unlimited.
    public var memoryBytes: Int64 = 4 << 30
    public var pidsLimit: Int64 = 1024
    /// CPUs per container (1.5 = one and a half); 0 means unlimited.
    public var cpus: Double = 0
    /// The largest file a job may write (RLIMIT_FSIZE); 0 means unlimited.
    public var maxFileBytes: Int64 = 8 << 30
    /// Idle containers kept per toolchain, ready for the next job.
    public var idleContainersPerToolchain = 4
    /// Containers per toolchain started ahead of need (or being reset) beside those in use, so that a job rarely
    /// waits for a reset or a start.
    public var spareContainersPerToolchain = 1
    /// Containers reset at the same time, in the background.
    public var resetWorkers = 4
    /// Labels Kiln's containers and images with this value, so a restart removes what this builder left (and only
    /// that, when several builders share an engine).
    public var instance: String

    public init(instance: String) { self.instance = instance }

    /// The busybox every Kiln image carries, used for container upkeep (never by jobs).
    static let busybox = "/\(reservedDirectory)/busybox"
    /// Kiln's directory in every image; no toolchain archive may write there.
    static let reservedDirectory = ".kiln"
    static let instanceLabel = "dev.kiln.instance"
    static let toolchainLabel = "dev.kiln.toolchain"
    /// The long-lived process of a pooled container; jobs run beside it through exec.
    static let idleCommand = [busybox, "sleep", "2147483647"]

    var labels: [String: String] { [Self.instanceLabel: instance] }
    /// The labels of a toolchain's image and containers.
    func labels(forToolchain archiveID: String) -> [String: String] { [Self.instanceLabel: instance, Self.toolchainLabel: archiveID] }

    var sharedMemoryBytes: Int64 { maxFileBytes > 0 ? min(maxFileBytes, 64 << 20) : 64 << 20 }

    var hostConfiguration: HostConfiguration {
        var host = HostConfiguration()
        host.memoryBytes = memoryBytes
        host.memoryAndSwapBytes = memoryBytes
        host.pidsLimit = pidsLimit
        host.nanoCPUs = Int64(cpus * 1e9)
        host.ulimits = [Ulimit(name: "core", value: 0)] + (maxFileBytes > 0 ? [Ulimit(name: "fsize", value: maxFileBytes)] : [])
        // /dev/shm is a tmpfs outside the writable layer the disk watch sees: bounded by the disk limit instead.
        host.sharedMemoryBytes = sharedMemoryBytes
        // Only container upkeep (root exec) holds these; a job runs as `uid` with no effective capabilities and
        // no-new-privileges, so neither setuid binaries nor file capabilities give them back.
        host.addedCapabilities = ["KILL", "DAC_OVERRIDE", "FOWNER"]
        return host
    }

    /// The container limits, for the start-up log.
    var report: String {
        func bound(_ value: Int64, _ unit: String) -> String { value > 0 ? "\(value)\(unit)" : "unlimited" }
        return "memory \(bound(memoryBytes, " bytes")) and processes \(bound(pidsLimit, "")) by the container's cgroup; cpus "
            + (cpus > 0 ? "\(cpus)" : "unlimited")
            + "; files up to \(bound(maxFileBytes, " bytes")) by RLIMIT_FSIZE; /dev/shm up to \(bound(sharedMemoryBytes, " bytes")) (emptied between jobs); no network"
    }

    /// Docker's tag for the image of one toolchain.
    func imageTag(of archiveID: String) -> String {
        let safe = instance.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }
        return "\(String(safe).prefix(40))-\(archiveID)"
    }
    static let imageRepository = "kiln-toolchain"
}
