/// One environment variable as the client sent it: a `(String, String)` tuple on the wire.
public struct EnvironmentVariable: Hashable, Sendable, Codable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainerOrTuple()
        try container.encode(name)
        try container.encode(value)
    }
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainerOrTuple()
        name = try container.decode(String.self)
        value = try container.decode(String.self)
    }
}

/// What to run on the build server (`CompileCommand`).
public struct CompileCommand: Hashable, Sendable, Codable {
    /// The compiler's absolute path as the client knows it (`/usr/bin/gcc`).
    public var executable: String
    public var arguments: [String]
    /// The client's whole environment; keys may repeat and may even contain `=`.
    public var environment: [EnvironmentVariable]
    /// The client's absolute working directory.
    public var cwd: String

    public init(executable: String, arguments: [String], environment: [EnvironmentVariable], cwd: String) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.cwd = cwd
    }

    enum CodingKeys: String, CodingKey {
        case executable, arguments, environment = "env_vars", cwd
    }
}

/// A finished process: exit code and captured output (`ProcessOutput`).
///
/// `code` is the plain exit code, as upstream sends it; 0.4 clients read it as a wait status (protocol §3.3).
public struct ProcessOutput: Hashable, Sendable, Codable {
    public var code: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public init(code: Int32, stdout: [UInt8], stderr: [UInt8]) {
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// One produced file: a zlib stream and the exact uncompressed length (`OutputData`). Clients assert the length.
public struct OutputData: Hashable, Sendable, Codable {
    public var compressed: [UInt8]
    public var uncompressedLength: UInt64
    public init(compressed: [UInt8], uncompressedLength: UInt64) {
        self.compressed = compressed
        self.uncompressedLength = uncompressedLength
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainerOrTuple()
        try container.encode(compressed)
        try container.encode(uncompressedLength)
    }
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainerOrTuple()
        compressed = try container.decode([UInt8].self)
        uncompressedLength = try container.decode(UInt64.self)
    }
}

/// A `(path, OutputData)` pair of `JobComplete.outputs`.
public struct NamedOutput: Hashable, Sendable, Codable {
    public var path: String
    public var data: OutputData
    public init(path: String, data: OutputData) {
        self.path = path
        self.data = data
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainerOrTuple()
        try container.encode(path)
        try container.encode(data)
    }
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainerOrTuple()
        path = try container.decode(String.self)
        data = try container.decode(OutputData.self)
    }
}
