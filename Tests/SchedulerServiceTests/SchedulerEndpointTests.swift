import CurlClient
import Foundation
import KilnConfiguration
import KilnMetrics
import KilnProtocol
import Logging
import SchedulerService
import ServiceLifecycle
import ServiceSupport
import Testing

/// Kiln's scheduler in-process on an ephemeral port, driven over real HTTP through libcurl: every documented
/// answer for bad input, and none of it crashes the server.
@Suite struct SchedulerEndpointTests {
    /// Runs a scheduler for the duration of `body`.
    static func withScheduler(
        clientAuth: ClientAuthConfiguration = .token("cli"), serverAuth: ServerAuthConfiguration = .token("srv"),
        trustedProxies: [[UInt8]] = [], metrics: SchedulerMetrics = SchedulerMetrics(), exposition: MetricsExposition? = nil,
        connections: ConnectionLimitsConfiguration = ConnectionLimitsConfiguration(),
        _ body: @Sendable (_ base: String) async throws -> Void
    ) async throws {
        var configuration = SchedulerConfiguration(
            publicAddress: ServerID("127.0.0.1:0")!, clientAuth: clientAuth, serverAuth: serverAuth,
            trustedProxies: trustedProxies, assignJobTimeoutSeconds: 3)
        configuration.connections = connections
        var logger = Logger(label: "test.scheduler")
        logger.logLevel = .critical
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try await buildSchedulerApplication(
            configuration: configuration, logger: logger, metrics: metrics, exposition: exposition
        ) { continuation.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.run() }
            var ports = stream.makeAsyncIterator()
            guard let port = await ports.next() else { throw CurlError(.connect, "scheduler did not start") }
            try await body("http://127.0.0.1:\(port)/api/v1/scheduler")
            group.cancelAll()
        }
    }

    static func send(
        _ method: HTTPRequest.Method, _ url: String, token: String? = nil, body: [UInt8]? = nil,
        contentType: String? = "application/octet-stream", headers: [(String, String)] = []
    ) async throws -> HTTPResponse {
        var allHeaders = headers
        if let token { allHeaders.append(("Authorization", "Bearer \(token)")) }
        if let contentType, body != nil { allHeaders.append(("Content-Type", contentType)) }
        // 30 s: the unit suites run in parallel with CPU-heavy ones (100,000 mutants, BLAKE3 files) on two threads.
        return try await CurlTransport().perform(HTTPRequest(method: method, url: url, headers: allHeaders, body: body, timeoutSeconds: 30))
    }

    static func heartbeat(cpus: Int = 2) throws -> [UInt8] {
        try BincodeEncoder().encode(
            HeartbeatServerHttpRequest(
                jwtKey: [UInt8](repeating: 1, count: 32), numCPUs: cpus, serverNonce: ServerNonce(42),
                certDigest: [UInt8](repeating: 2, count: 32), certPEM: Array("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n".utf8)))
    }

    /// A `Toolchain` body: 72 bytes, as the client sends.
    static let toolchain: [UInt8] = [64, 0, 0, 0, 0, 0, 0, 0] + Array(String(repeating: "ab", count: 32).utf8)

    @Test func statusInBincodeAndJSON() async throws {
        try await Self.withScheduler { base in
            let bincode = try await Self.send(.get, base + "/status")
            #expect(bincode.status == 200 && bincode.header("content-type") == "application/octet-stream")
            #expect(bincode.body == [UInt8](repeating: 0, count: 24))
            let json = try await Self.send(.get, base + "/status", headers: [("Accept", "application/json")])
            #expect(String(decoding: json.body, as: UTF8.self).contains("\"num_servers\":0"))
        }
    }

    @Test func allocJobAnswers() async throws {
        try await Self.withScheduler { base in
            let noBearer = try await Self.send(.post, base + "/alloc_job", body: Self.toolchain)
            #expect(noBearer.status == 401 && noBearer.header("www-authenticate") == "Bearer error=\"no_bearer_auth\"")
            let wrong = try await Self.send(.post, base + "/alloc_job", token: "nope", body: Self.toolchain)
            #expect(wrong.status == 401 && wrong.header("www-authenticate") == "Bearer error=\"bearer_auth_failed\"")
            #expect(String(decoding: wrong.body, as: UTF8.self) == "Fixed token mismatch")
            let textBody = try await Self.send(.post, base + "/alloc_job", token: "cli", body: Self.toolchain, contentType: "text/plain")
            #expect(textBody.status == 400)
            #expect(
                String(decoding: textBody.body, as: UTF8.self) == #"{"description":"the request didn't have a binary content type","cause":null}"#)
            let garbage = try await Self.send(.post, base + "/alloc_job", token: "cli", body: [1, 2, 3])
            #expect(garbage.status == 400)
            // A short message only: what the decoder said goes to the log, not to the client.
            #expect(String(decoding: garbage.body, as: UTF8.self) == #"{"description":"error while parsing the bincode body","cause":null}"#)
            let empty = try await Self.send(.post, base + "/alloc_job", token: "cli", body: Self.toolchain)
            #expect(empty.status == 200)
            #expect(
                try BincodeDecoder().decode(AllocJobHttpResponse.self, from: empty.body) == .fail("Insufficient capacity across 0 available servers"))
        }
    }

    @Test func heartbeatAnswers() async throws {
        try await Self.withScheduler(trustedProxies: [[127, 0, 0, 1]]) { base in
            let url = base + "/heartbeat_server"
            let badToken = try await Self.send(.post, url, token: "127.0.0.1:10501 wrong", body: try Self.heartbeat())
            #expect(badToken.status == 401 && badToken.header("www-authenticate") == "Bearer error=\"invalid_bearer_token\"")
            let otherHost = try await Self.send(.post, url, token: "10.9.9.9:10501 srv", body: try Self.heartbeat())
            #expect(otherHost.status == 401 && otherHost.header("www-authenticate") == "Bearer error=\"invalid_bearer_token_mismatched_address\"")
            let badRealIP = try await Self.send(
                .post, url, token: "127.0.0.1:10501 srv", body: try Self.heartbeat(), headers: [("X-Real-IP", "not-an-ip")])
            #expect(badRealIP.status == 400)
            let proxied = try await Self.send(
                .post, url, token: "10.9.9.9:10501 srv", body: try Self.heartbeat(), headers: [("X-Real-IP", "10.9.9.9")])
            #expect(proxied.status == 200, "a trusted proxy's X-Real-IP is believed")
            let zeroCPUs = try await Self.send(.post, url, token: "127.0.0.1:10501 srv", body: try Self.heartbeat(cpus: 0))
            #expect(zeroCPUs.status == 500, "a server cannot register with no CPUs")
            let first = try await Self.send(.post, url, token: "127.0.0.1:10501 srv", body: try Self.heartbeat())
            #expect(first.status == 200 && first.body == [1])
            let again = try await Self.send(.post, url, token: "127.0.0.1:10501 srv", body: try Self.heartbeat())
            #expect(again.body == [0])
            let draining = try await Self.send(.post, url, token: "127.0.0.1:10501 srv", body: try Self.heartbeat(cpus: 0))
            #expect(draining.status == 200 && draining.body == [0], "a registered server may drain")
            let truncated = try await Self.send(.post, url, token: "127.0.0.1:10501 srv", body: Array(try Self.heartbeat().prefix(40)))
            #expect(truncated.status == 400)
            let certificate = try await Self.send(.get, base + "/server_certificate/127.0.0.1:10501")
            #expect(certificate.status == 200)
            #expect(
                try BincodeDecoder().decode(ServerCertificateHttpResponse.self, from: certificate.body).certDigest == [UInt8](repeating: 2, count: 32)
            )
        }
    }

    /// Issue 20: `num_cpus` of 2^63−1 made `cores + 1 + cores/8` overflow and the scheduler trap. Absurd counts
    /// are clamped; two such servers and the status sums still answer, and a client still gets a job.
    @Test func absurdCPUCountsNeverTrapTheScheduler() async throws {
        try await Self.withScheduler { base in
            for (server, cpus) in [("127.0.0.1:10501", Int.max), ("127.0.0.1:10502", Int.max - 7), ("127.0.0.1:10503", Int.min)] {
                let answer = try await Self.send(.post, base + "/heartbeat_server", token: "\(server) srv", body: try Self.heartbeat(cpus: cpus))
                #expect(answer.status == (cpus > 0 ? 200 : 500), "\(cpus)")
            }
            let status = try await Self.send(.get, base + "/status", headers: [("Accept", "application/json")])
            let text = String(decoding: status.body, as: UTF8.self)
            #expect(status.status == 200 && text.contains("\"num_servers\":2") && text.contains("\"num_cpus\":131072"), "\(text)")
            // Nothing listens at those addresses: assign_job fails and the client compiles locally, as with any
            // unreachable server; the point is that the scheduler answers.
            let job = try await Self.send(.post, base + "/alloc_job", token: "cli", body: Self.toolchain)
            #expect(job.status == 200 || job.status == 500)
            #expect(try await Self.send(.get, base + "/status").status == 200)
            // Issue 20, item 5: an archive id that is not 64 hex digits is never stored (a 500: compile locally).
            let longID = try BincodeEncoder().encode(Toolchain(archiveID: String(repeating: "z", count: 100_000)))
            #expect(try await Self.send(.post, base + "/alloc_job", token: "cli", body: longID).status == 500)
        }
    }

    @Test func untrustedRealIPIsIgnored() async throws {
        try await Self.withScheduler { base in
            let spoofed = try await Self.send(
                .post, base + "/heartbeat_server", token: "10.9.9.9:10501 srv", body: try Self.heartbeat(), headers: [("X-Real-IP", "10.9.9.9")])
            #expect(spoofed.status == 401, "X-Real-IP from a peer that is not a trusted proxy must not count")
        }
    }

    @Test func certificatesAndJobStates() async throws {
        try await Self.withScheduler { base in
            let unknown = try await Self.send(.get, base + "/server_certificate/127.0.0.1:1")
            #expect(unknown.status == 500)
            #expect(String(decoding: unknown.body, as: UTF8.self) == #"{"description":"server cert not available","cause":null}"#)
            let garbage = try await Self.send(.get, base + "/server_certificate/garbage")
            #expect(garbage.status == 404 && garbage.body.isEmpty)
            let heartbeat = try await Self.send(.post, base + "/heartbeat_server", token: "127.0.0.1:10501 srv", body: try Self.heartbeat())
            #expect(heartbeat.status == 200)
            #expect(
                heartbeat.header(DeferredStartedReport.capabilityHeader) == DeferredStartedReport.capability,
                "a Kiln build server may defer its Started reports")
            let state = try BincodeEncoder().encode(JobState.ready)
            let unknownJob = try await Self.send(.post, base + "/job_state/12345", token: "127.0.0.1:10501 srv", body: state)
            #expect(unknownJob.status == 500)
            #expect(String(decoding: unknownJob.body, as: UTF8.self) == #"{"description":"Unknown job","cause":null}"#)
            let badPath = try await Self.send(.post, base + "/job_state/minus-one", token: "127.0.0.1:10501 srv", body: state)
            #expect(badPath.status == 404)
            let badState = try await Self.send(.post, base + "/job_state/1", token: "127.0.0.1:10501 srv", body: [9, 0, 0, 0])
            #expect(badState.status == 400)
        }
    }

    @Test func unreachableServerMeans500AndQuarantine() async throws {
        try await Self.withScheduler { base in
            // A registered server whose HTTPS port answers nothing: assign_job fails, the client gets a 500.
            _ = try await Self.send(.post, base + "/heartbeat_server", token: "127.0.0.1:9 srv", body: try Self.heartbeat())
            let alloc = try await Self.send(.post, base + "/alloc_job", token: "cli", body: Self.toolchain)
            #expect(alloc.status == 500)
            let status = try BincodeDecoder().decode(SchedulerStatusResult.self, from: try await Self.send(.get, base + "/status").body)
            #expect(status.numServers == 1 && status.inProgress == 0)
        }
    }

    /// Issue 20, item 6: when the chosen server fails assign_job (it died), the same alloc_job asks the next one.
    @Test func aFailedAssignJobTriesTheNextServer() async throws {
        try await Self.withScheduler { base in
            for server in ["127.0.0.1:9", "127.0.0.1:11"] {
                _ = try await Self.send(.post, base + "/heartbeat_server", token: "\(server) srv", body: try Self.heartbeat())
            }
            let alloc = try await Self.send(.post, base + "/alloc_job", token: "cli", body: Self.toolchain)
            #expect(alloc.status == 500, "neither answers: the client compiles locally")
            let report = String(
                decoding: try await Self.send(.get, base.replacingOccurrences(of: "/api/v1/scheduler", with: "/api/v1/kiln/status")).body,
                as: UTF8.self)
            #expect(report.components(separatedBy: "\"quarantined\":true").count == 3, "both servers were tried by one alloc_job: \(report)")
        }
    }
}
