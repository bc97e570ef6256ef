import Foundation

/// `AssignJobResult`: the build server's answer to `assign_job`. `state` and `needToolchain` always pair up:
/// Pending with true, Ready with false (protocol §2.6).
public struct AssignJobResult: Hashable, Sendable, Codable {
    public var state: JobState
    public var needToolchain: Bool
    public init(state: JobState, needToolchain: Bool) {
        self.state = state
        self.needToolchain = needToolchain
    }
    enum CodingKeys: String, CodingKey { case state, needToolchain = "need_toolchain" }

    public static func forToolchain(cached: Bool) -> AssignJobResult {
        cached ? AssignJobResult(state: .ready, needToolchain: false) : AssignJobResult(state: .pending, needToolchain: true)
    }
}

/// `SubmitToolchainResult`: anything but `success` makes the client compile locally.
public enum SubmitToolchainResult: UInt32, Hashable, Sendable, Codable {
    case success = 0, jobNotFound, cannotCache

    static let names = ["Success", "JobNotFound", "CannotCache"]
    public func encode(to encoder: any Encoder) throws {
        try encoder.encodeUnitVariant(rawValue, Self.names[Int(rawValue)])
    }
    public init(from decoder: any Decoder) throws {
        self = Self(rawValue: UInt32(try decoder.decodeVariant(names: Self.names).index)) ?? .cannotCache
    }
}

/// `RunJobHttpRequest`: the bincode part of a `run_job` body (protocol §4.1).
public struct RunJobHttpRequest: Hashable, Sendable, Codable {
    public var command: CompileCommand
    /// Absolute paths of the files to send back.
    public var outputs: [String]
    public init(command: CompileCommand, outputs: [String]) {
        self.command = command
        self.outputs = outputs
    }
}

/// `JobComplete`: what a finished compile returns.
public struct JobComplete: Hashable, Sendable, Codable {
    public var output: ProcessOutput
    public var outputs: [NamedOutput]
    public init(output: ProcessOutput, outputs: [NamedOutput]) {
        self.output = output
        self.outputs = outputs
    }

    /// The length of its bincode, counted without encoding it (every length prefix is a u64): lets a caller
    /// refuse an answer too large to keep before it spends the memory of a copy.
    public var bincodeLength: Int {
        let process = 4 + 8 + output.stdout.count + 8 + output.stderr.count
        return process + 8 + outputs.reduce(0) { $0 + 8 + $1.path.utf8.count + 8 + $1.data.compressed.count + 8 }
    }
}

/// `RunJobResult`: the answer to `run_job`.
public enum RunJobResult: Hashable, Sendable, Codable {
    case jobNotFound
    case complete(JobComplete)

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .jobNotFound: try encoder.encodeUnitVariant(0, "JobNotFound")
        case .complete(let result): try encoder.encodeVariant(1, "Complete", payload: result)
        }
    }
    public init(from decoder: any Decoder) throws {
        let variant = try decoder.decodeVariant(names: ["JobNotFound", "Complete"])
        self = variant.index == 0 ? .jobNotFound : .complete(try variant.payload(JobComplete.self))
    }
}

/// The JSON error body of upstream 400 and 500 answers: `{"description": …, "cause": ErrJson|null}`.
public struct ErrorJSON: Hashable, Sendable, Codable {
    public var description: String
    public var cause: [ErrorJSON]

    public init(_ description: String, cause: ErrorJSON? = nil) {
        self.description = description
        self.cause = cause.map { [$0] } ?? []
    }

    enum CodingKeys: String, CodingKey { case description, cause }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(description, forKey: .description)
        if let cause = cause.first {
            try container.encode(cause, forKey: .cause)
        } else {
            try container.encodeNil(forKey: .cause)
        }
    }
    /// The JSON text with upstream's key order (`description`, then `cause`), whatever the JSON encoder does.
    public var jsonText: String {
        let escaped = (try? JSONEncoder().encode(description)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return "{\"description\":\(escaped),\"cause\":\(cause.first?.jsonText ?? "null")}"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        description = try container.decode(String.self, forKey: .description)
        cause = (try container.decodeIfPresent(ErrorJSON.self, forKey: .cause)).map { [$0] } ?? []
    }
}
