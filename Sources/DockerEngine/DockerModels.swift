/// The subset of the Engine API's JSON (API 1.41) that Kiln sends and reads; the coding keys are the engine's.

/// `POST /containers/create` body.
public struct ContainerConfig: Encodable, Sendable {
    public var image: String
    public var command: [String]
    public var labels: [String: String]
    public var hostConfig: HostConfiguration

    public init(image: String, command: [String], labels: [String: String], hostConfig: HostConfiguration) {
        self.image = image
        self.command = command
        self.labels = labels
        self.hostConfig = hostConfig
    }

    private enum CodingKeys: String, CodingKey {
        case image = "Image", command = "Cmd", labels = "Labels", hostConfig = "HostConfig"
    }
}

/// Resource limits and isolation of a container.
public struct HostConfiguration: Encodable, Sendable, Hashable {
    public var networkMode = "none"
    /// Bytes; 0 is unlimited.
    public var memoryBytes: Int64 = 0
    /// Memory + swap; equal to `memoryBytes` means no swap.
    public var memoryAndSwapBytes: Int64 = 0
    /// At most this many processes and threads; 0 is unlimited.
    public var pidsLimit: Int64 = 0
    /// CPU time in units of 10⁻⁹ CPUs; 0 is unlimited.
    public var nanoCPUs: Int64 = 0
    public var droppedCapabilities = ["ALL"]
    public var addedCapabilities: [String] = []
    public var securityOptions = ["no-new-privileges"]
    /// rlimits of every process in the container.
    public var ulimits: [Ulimit] = []
    /// Runs docker-init as pid 1, which reaps orphaned processes.
    public var initProcess = true
    /// The size of the container's `/dev/shm` (a tmpfs); 0: the engine's default (64 MiB).
    public var sharedMemoryBytes: Int64 = 0

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case networkMode = "NetworkMode", memoryBytes = "Memory", memoryAndSwapBytes = "MemorySwap", pidsLimit = "PidsLimit"
        case nanoCPUs = "NanoCpus", droppedCapabilities = "CapDrop", addedCapabilities = "CapAdd", securityOptions = "SecurityOpt"
        case ulimits = "Ulimits", initProcess = "Init", sharedMemoryBytes = "ShmSize"
    }
}

/// One rlimit of a container (`fsize`, `core`, …), soft and hard alike.
public struct Ulimit: Encodable, Sendable, Hashable {
    public var name: String
    public var value: Int64

    public init(name: String, value: Int64) {
        self.name = name
        self.value = value
    }

    private enum CodingKeys: String, CodingKey { case name = "Name", soft = "Soft", hard = "Hard" }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(value, forKey: .soft)
        try container.encode(value, forKey: .hard)
    }
}

/// `POST /containers/{id}/exec` body.
public struct ExecConfig: Encodable, Sendable {
    /// Set by ``DockerEngineClient/startAttached(container:_:greeting:timeout:)``, whose process reads its input.
    public var attachStdin = false
    public var attachStdout = true
    public var attachStderr = true
    public var user: String
    public var workingDirectory: String
    /// `KEY=value` pairs.
    public var environment: [String]
    public var command: [String]

    public init(user: String, workingDirectory: String, environment: [String], command: [String]) {
        self.user = user
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.command = command
    }

    private enum CodingKeys: String, CodingKey {
        case attachStdin = "AttachStdin", attachStdout = "AttachStdout", attachStderr = "AttachStderr", user = "User", workingDirectory = "WorkingDir"
        case environment = "Env", command = "Cmd"
    }
}

/// `POST /commit` body: what the new image records.
struct CommitConfig: Encodable {
    var labels: [String: String]
    var command: [String]
    /// Always empty: an image's own entrypoint (a REAPI action's `container-image` may have one) would run in
    /// place of the idle command. The engine keeps the image's entrypoint when this is absent, not when it is `[]`.
    var entrypoint: [String] = []

    private enum CodingKeys: String, CodingKey { case labels = "Labels", command = "Cmd", entrypoint = "Entrypoint" }
}

/// One change of a container's filesystem against its image (`GET /containers/{id}/changes`).
public struct FilesystemChange: Decodable, Sendable, Hashable {
    public enum Kind: Int, Decodable, Sendable { case modified = 0, added = 1, deleted = 2 }
    public var path: String
    public var kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    private enum CodingKeys: String, CodingKey { case path = "Path", kind = "Kind" }
}

/// A container or image in a list answer, or the answer of a create call.
struct IdentifiedObject: Decodable {
    var id: String
    private enum CodingKeys: String, CodingKey { case id = "Id" }
}

/// `GET /exec/{id}/json`.
struct ExecInspection: Decodable {
    var running: Bool
    var exitCode: Int?
    private enum CodingKeys: String, CodingKey { case running = "Running", exitCode = "ExitCode" }
}

/// `GET /version`.
public struct EngineVersion: Decodable, Sendable {
    public var version: String
    public var apiVersion: String
    private enum CodingKeys: String, CodingKey { case version = "Version", apiVersion = "ApiVersion" }
}

/// The engine's error body.
struct EngineMessage: Decodable {
    var message: String
}

/// Where a running container's files are on the host.
public struct ContainerFilesystem: Sendable, Hashable {
    /// The writable layer: what the container added or changed.
    public var writableLayer: String?
    /// The container's root as its processes see it (the mounted union of its layers).
    public var root: String?
    /// The host pid of the container's first process, whose pid namespace every process of the container shares.
    public var initProcess: Int32?

    public init(writableLayer: String?, root: String?, initProcess: Int32?) {
        self.writableLayer = writableLayer
        self.root = root
        self.initProcess = initProcess
    }
}

/// The part of `GET /containers/{id}/json` Kiln reads.
struct ContainerDetails: Decodable {
    struct GraphDriver: Decodable {
        var data: [String: String]?
        private enum CodingKeys: String, CodingKey { case data = "Data" }
    }
    struct State: Decodable {
        var pid: Int32?
        private enum CodingKeys: String, CodingKey { case pid = "Pid" }
    }
    var graphDriver: GraphDriver?
    var state: State?
    private enum CodingKeys: String, CodingKey { case graphDriver = "GraphDriver", state = "State" }
}
