import ArchiveKit
import BLAKE3
import BuilderCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KilnAuth
import KilnProtocol
import KilnTestSupport
import Logging
import NIOCore
import ToolchainStore

@testable import BuilderService

/// A build server in-process: its real endpoints, job table, slots, toolchain cache and drain, with a
/// ``FakeSandbox`` and a ``RecordingScheduler``, driven through Hummingbird's router test client (no sockets,
/// no root, no compiler).
struct BuilderHarness {
    let server: BuildServer
    let scheduler = RecordingScheduler()
    let sandbox = FakeSandbox()
    let directory: TemporaryDirectory
    private let authority: HS256Authority

    /// A tiny toolchain archive and its id, as a client would upload it.
    static let toolchainBytes = Array("a toolchain archive, as far as the fake sandbox cares".utf8)
    static var toolchain: Toolchain {
        var hasher = BLAKE3Hasher()
        hasher.update(toolchainBytes)
        return Toolchain(archiveID: DigestHex.sccache(hasher.finalize()))
    }

    /// The job table's time.
    let clock = ManualClock()

    init(slots: Int = 2) async throws {
        directory = try TemporaryDirectory(prefix: "kiln-builder-harness")
        let identity = try BuilderIdentity(serverID: ServerID("127.0.0.1:10501")!)
        try FileManager.default.createDirectory(atPath: directory.path + "/inputs", withIntermediateDirectories: true)
        var logger = Logger(label: "test.builder")
        logger.logLevel = .critical
        server = await BuildServer(
            identity: identity, link: scheduler, archives: try ToolchainArchiveCache(cacheDirectory: directory.path, capacity: 1 << 20),
            sandbox: sandbox, slots: slots, spoolDirectory: directory.path + "/inputs",
            environment: JobEnvironmentPolicy(allowlist: [], path: "/usr/bin:/bin"), results: nil, streamLimit: 1 << 20,
            clock: ErasedClock(clock), logger: logger)
        authority = await HS256Authority(key: identity.jobTokenKey)
    }

    /// Runs `body` against the server's router.
    func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        try await Application(router: builderRouter(for: server)).test(.router, body)
    }

    func token(_ job: JobID) async throws -> String { try await authority.jobToken(for: job.rawValue) }

    func post(
        _ client: any TestClientProtocol, _ endpoint: String, _ job: JobID, body: [UInt8], token: String? = nil
    ) async throws -> TestResponse {
        let bearer: String = if let token { token } else { try await self.token(job) }
        return try await client.execute(
            uri: "/api/v1/distserver/\(endpoint)/\(job)", method: .post,
            headers: [.authorization: "Bearer \(bearer)", .contentType: "application/octet-stream"], body: ByteBuffer(bytes: body))
    }

    func assign(_ client: any TestClientProtocol, _ job: JobID) async throws -> AssignJobResult {
        let response = try await post(client, "assign_job", job, body: try BincodeEncoder().encode(Self.toolchain))
        return try BincodeDecoder().decode(AssignJobResult.self, from: Array(buffer: response.body))
    }

    func submitToolchain(_ client: any TestClientProtocol, _ job: JobID) async throws -> SubmitToolchainResult {
        let response = try await post(client, "submit_toolchain", job, body: Self.toolchainBytes)
        return try BincodeDecoder().decode(SubmitToolchainResult.self, from: Array(buffer: response.body))
    }

    /// assign_job then submit_toolchain, the job's way to run_job; their answers are the endpoints' own tests' to check.
    func assignAndSubmit(_ client: any TestClientProtocol, _ job: JobID) async throws {
        _ = try await assign(client, job)
        _ = try await submitToolchain(client, job)
    }

    /// run_job with a one-file inputs tar; the status and, when it is 200, the decoded result.
    func run(_ client: any TestClientProtocol, _ job: JobID, outputs: [String] = ["main.o"]) async throws -> (HTTPResponse.Status, RunJobResult?) {
        let command = CompileCommand(executable: "/usr/bin/cc", arguments: ["-c", "main.c"], environment: [], cwd: "/work")
        let header = try BincodeEncoder().encode(RunJobHttpRequest(command: command, outputs: outputs))
        let tar = try TestToolchain.inputs(in: directory, ["work/main.c": "int main;"], name: "inputs-\(job).tar")
        let length = UInt32(header.count)
        let body =
            [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + header
            + (try ZlibDeflate.compress([UInt8](try Data(contentsOf: URL(fileURLWithPath: tar)))))
        let response = try await post(client, "run_job", job, body: body)
        guard response.status == .ok else { return (response.status, nil) }
        return (response.status, try BincodeDecoder().decode(RunJobResult.self, from: Array(buffer: response.body)))
    }
}
