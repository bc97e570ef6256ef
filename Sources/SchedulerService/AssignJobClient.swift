import CurlClient
import KilnProtocol

/// Calls `assign_job` on a build server over HTTPS, trusting only the certificate from its heartbeat.
struct AssignJobClient: Sendable {
    let transport = CurlTransport()
    let timeoutSeconds: Int
    /// Kiln build servers keep the connection for the next assign_job (no TCP and TLS set-up per job).
    let peers = KeepAlivePeers(serverName: KilnServerName.value)

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func assign(job: JobID, toolchain: Toolchain, on server: ServerID, token: String, certificatePEM: [UInt8]) async throws -> AssignJobResult {
        var request = HTTPRequest(
            method: .post, url: "https://\(server)/api/v1/distserver/assign_job/\(job)",
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/octet-stream")],
            body: try BincodeEncoder().encode(toolchain), timeoutSeconds: timeoutSeconds,
            connectTimeoutSeconds: min(timeoutSeconds, 5), maxResponseBytes: 1 << 16, pinnedCertificatePEM: certificatePEM)
        request.reusesConnection = peers.keepsAlive("\(server)")
        let response = try await transport.perform(request)
        peers.learn(from: response, of: "\(server)")
        guard response.status == 200 else {
            throw Failure(
                description: "assign_job on \(server) answered \(response.status): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        return try BincodeDecoder().decode(AssignJobResult.self, from: response.body)
    }
}
