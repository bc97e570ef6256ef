import CurlClient
import KilnAuth
import KilnConfiguration
import KilnErrors
import KilnProtocol
import Synchronization

/// The build server's calls to the scheduler (protocol §2.4, §2.5, §6.2): heartbeats and job_state updates,
/// with the server token of the configured `scheduler_auth`.
struct SchedulerLink: SchedulerReporting {
    let schedulerURL: String
    let bearerToken: String
    let transport = CurlTransport()
    /// Kiln's scheduler keeps the connection for the next heartbeat or job_state (sccache-dist's gets one each).
    let peers = KeepAlivePeers(serverName: KilnServerName.value)
    /// What the last heartbeat's answer said of ``DeferredStartedReport`` (a scheduler may be replaced by another).
    private let deferral = DeferralAnnouncement()

    init(schedulerURL: String, auth: SchedulerAuthConfiguration, serverID: ServerID) throws {
        self.schedulerURL = schedulerURL
        switch auth {
        case .dangerouslyInsecure: bearerToken = "\(serverID) dangerously_insecure_server"
        case .token(let token): bearerToken = "\(serverID) \(token)"
        case .jwtToken(let token):
            // Upstream decodes the token without its key and refuses to start when it names another server.
            let named = (try? UnverifiedJWT.claims(of: token))?["server_id"] as? String
            guard let named else {
                throw BuilderError(
                    .configuration, "scheduler_auth.token is not a server JWT; make one with `builder-server auth generate-jwt-hs256-server-token`")
            }
            guard named == serverID.description else {
                throw BuilderError(
                    .configuration, "scheduler_auth.token is for server \(named), but public_addr is \(serverID); generate a token for \(serverID)")
            }
            bearerToken = token
        }
    }

    /// Registers or refreshes this server. Returns `is_new`.
    func heartbeat(_ request: HeartbeatServerHttpRequest) async throws -> Bool {
        let (result, response): (HeartbeatServerResult, HTTPResponse) = try await post("/api/v1/scheduler/heartbeat_server", body: request)
        deferral.announced.withLock { $0 = response.header(DeferredStartedReport.capabilityHeader) == DeferredStartedReport.capability }
        return result.isNew
    }

    var defersStarted: Bool { deferral.announced.withLock { $0 } }

    /// Reports a job's new state; throws unless the scheduler accepted it.
    func reportJobState(_ job: JobID, _ state: JobState, startedAgo: Duration?) async throws {
        let extra = startedAgo.map { [(DeferredStartedReport.startedAgoHeader, DeferredStartedReport.headerValue($0))] } ?? []
        let (result, _): (UpdateJobStateResult, HTTPResponse) = try await post("/api/v1/scheduler/job_state/\(job)", body: state, headers: extra)
        if case .fail(let message) = result {
            throw BuilderError(.scheduler, "the scheduler refused job \(job) → \(state)", cause: message)
        }
    }

    private func post<Body: Encodable, Answer: Decodable>(
        _ path: String, body: Body, headers: [(String, String)] = []
    ) async throws -> (Answer, HTTPResponse) {
        var request = HTTPRequest(
            method: .post, url: schedulerURL + path,
            headers: [("Authorization", "Bearer \(bearerToken)"), ("Content-Type", "application/octet-stream")] + headers,
            body: try BincodeEncoder().encode(body), timeoutSeconds: 30, connectTimeoutSeconds: 5, maxResponseBytes: 1 << 16)
        request.reusesConnection = peers.keepsAlive(schedulerURL)
        let response = try await transport.perform(request)
        peers.learn(from: response, of: schedulerURL)
        guard response.status == 200 else {
            throw BuilderError(
                .scheduler, "\(path) answered \(response.status); check scheduler_url and scheduler_auth",
                cause: String(decoding: response.body.prefix(300), as: UTF8.self))
        }
        do {
            return (try BincodeDecoder().decode(Answer.self, from: response.body), response)
        } catch {
            throw BuilderError(.scheduler, "\(path) answered with a body that does not decode", underlying: error)
        }
    }
}

/// Whether the scheduler announced ``DeferredStartedReport``, shared by the copies of a ``SchedulerLink``.
private final class DeferralAnnouncement: Sendable {
    let announced = Mutex(false)
}
