import HTTPTypes
import Hummingbird
import KilnProtocol
import Logging
import ServiceSupport

/// The five scheduler endpoints of protocol §2.1–2.5, with upstream's status codes and bodies. Only a problem
/// of the client's own making is a 4xx; anything that is the farm's problem is a 5xx or a `Fail`, so the client
/// compiles locally.
struct SchedulerController: Sendable {
    let scheduler: Scheduler<ContinuousClock>
    let clientAuth: ClientAuthenticator<ContinuousClock>
    let serverAuth: ServerAuthenticator
    let logger: Logger

    static let maxBody = 8 << 20
    private static let startedAgoField = HTTPField.Name(DeferredStartedReport.startedAgoHeader)!
    private static let capabilityField = HTTPField.Name(DeferredStartedReport.capabilityHeader)!

    func register(on router: Router<KilnRequestContext>) {
        let api = router.group("api/v1/scheduler")
        api.get("status") { request, _ in try WireHTTP.ok(await scheduler.status(), for: request) }
        api.post("alloc_job") { request, _ in try await allocJob(request) }
        api.get("server_certificate/:server") { request, context in try await serverCertificate(request, context) }
        api.post("heartbeat_server") { request, context in try await heartbeat(request, context) }
        api.post("job_state/:job") { request, context in try await jobState(request, context) }
        router.get("api/v1/kiln/status") { _, _ in
            try WireHTTP.okJSON(await scheduler.report())
        }
        router.get("/") { _, _ in
            WireHTTP.response(.ok, body: StatusPage.html(report: try WireHTTP.sortedJSON(await scheduler.report())), type: "text/html; charset=utf-8")
        }
    }

    private func allocJob(_ incoming: Request) async throws -> Response {
        var request = incoming
        guard let token = WireHTTP.bearerToken(request) else { return WireHTTP.unauthorized("no_bearer_auth") }
        switch await clientAuth.check(token) {
        case .accepted: break
        case .refused(let message): return WireHTTP.unauthorized("bearer_auth_failed", body: message)
        case .unavailable(let message):
            logger.error("client authentication unavailable", metadata: ["error": "\(message)"])
            return WireHTTP.error(.internalServerError, "client authentication is unavailable")
        }
        let toolchain: Toolchain
        switch try await WireHTTP.decodeBody(Toolchain.self, &request, limit: Self.maxBody) {
        case .proceed(let value): toolchain = value
        case .respond(let response): return response
        }
        // The id is kept per server and shown on the status page: only what sccache sends (64 hex digits), never
        // any string up to the body limit. A 500, so a client that sent it compiles locally.
        guard toolchain.isWellFormed else { return WireHTTP.error(.internalServerError, "the toolchain's archive_id is not 64 hex digits") }
        switch await scheduler.allocate(toolchain) {
        case .response(let answer): return try WireHTTP.ok(answer, for: request)
        case .failed(let message): return WireHTTP.error(.internalServerError, message)
        }
    }

    private func serverCertificate(_ request: Request, _ context: KilnRequestContext) async throws -> Response {
        guard let text = context.parameters.get("server"), let server = ServerID(text) else {
            return WireHTTP.response(.notFound, body: [], type: nil)
        }
        guard let certificate = await scheduler.certificate(of: server) else {
            return WireHTTP.error(.internalServerError, "server cert not available")
        }
        return try WireHTTP.ok(certificate, for: request)
    }

    /// Authenticates a build server, or returns the upstream answer for the failure.
    private func authenticateServer(_ request: Request, _ context: KilnRequestContext) async -> Outcome<ServerID> {
        do {
            let server = try await serverAuth.authenticate(
                token: WireHTTP.bearerToken(request), peerIP: context.peerIP,
                realIP: WireHTTP.realIP(request))
            return .proceed(server)
        } catch .invalidToken {
            return .respond(WireHTTP.unauthorized("invalid_bearer_token"))
        } catch .mismatchedAddress {
            return .respond(WireHTTP.unauthorized("invalid_bearer_token_mismatched_address"))
        } catch {
            return .respond(WireHTTP.response(.badRequest, body: [], type: nil))
        }
    }

    private func heartbeat(_ incoming: Request, _ context: KilnRequestContext) async throws -> Response {
        var request = incoming
        let server: ServerID
        switch await authenticateServer(request, context) {
        case .proceed(let id): server = id
        case .respond(let response): return response
        }
        let heartbeat: HeartbeatServerHttpRequest
        switch try await WireHTTP.decodeBody(HeartbeatServerHttpRequest.self, &request, limit: Self.maxBody) {
        case .proceed(let value): heartbeat = value
        case .respond(let response): return response
        }
        // Upstream answers num_cpus 0 with a 500; from a registered server Kiln takes it as a drain (no job is given
        // to a server with no CPUs).
        let mayDrain = await scheduler.isRegistered(server, nonce: heartbeat.serverNonce)
        guard heartbeat.numCPUs > 0 || mayDrain else {
            await scheduler.refusedHeartbeat("a heartbeat with no CPUs from an unregistered server", from: server)
            return WireHTTP.error(.internalServerError, "Invalid heartbeat num_cpus: 0")
        }
        guard heartbeat.jwtKey.count == 32 else {
            await scheduler.refusedHeartbeat("a heartbeat with a bad jwt_key", from: server)
            return WireHTTP.error(.internalServerError, "Invalid heartbeat jwt_key length")
        }
        guard String(decoding: heartbeat.certPEM, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            await scheduler.refusedHeartbeat("a heartbeat without a certificate", from: server)
            return WireHTTP.error(.internalServerError, "failed to interpret pem as certificate")
        }
        guard let answer = await scheduler.heartbeat(from: server, heartbeat) else {
            return WireHTTP.error(.internalServerError, "the scheduler keeps no more build servers")
        }
        var response = try WireHTTP.ok(answer, for: request)
        response.headers[Self.capabilityField] = DeferredStartedReport.capability
        return response
    }

    private func jobState(_ incoming: Request, _ context: KilnRequestContext) async throws -> Response {
        var request = incoming
        guard let text = context.parameters.get("job"), let number = UInt64(text) else {
            return WireHTTP.response(.notFound, body: [], type: nil)
        }
        let server: ServerID
        switch await authenticateServer(request, context) {
        case .proceed(let id): server = id
        case .respond(let response): return response
        }
        let state: JobState
        switch try await WireHTTP.decodeBody(JobState.self, &request, limit: Self.maxBody) {
        case .proceed(let value): state = value
        case .respond(let response): return response
        }
        do {
            let startedAgo = DeferredStartedReport.duration(ofHeader: request.headers[Self.startedAgoField])
            try await scheduler.updateJobState(job: JobID(number), to: state, from: server, startedAgo: startedAgo)
            return try WireHTTP.ok(UpdateJobStateResult.success, for: request)
        } catch {
            return WireHTTP.error(.internalServerError, "\(error)")
        }
    }
}
