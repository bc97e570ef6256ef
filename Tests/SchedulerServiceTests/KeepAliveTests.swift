import CurlClient
import KilnProtocol
import KilnTestSupport
import Testing

/// Kiln's servers close the connection after each answer, as sccache clients expect, unless the request asked to
/// keep it; Kiln's own callers keep it only for a peer whose `Server` header names Kiln.
@Suite struct KeepAliveTests {
    static func status(_ base: String, keepAlive: Bool) async throws -> HTTPResponse {
        var request = HTTPRequest(method: .get, url: base + "/status", timeoutSeconds: 30)
        request.reusesConnection = keepAlive
        return try await CurlTransport().perform(request)
    }

    @Test func anSccacheStyleRequestGetsConnectionCloseAndANewConnectionEachTime() async throws {
        try await SchedulerEndpointTests.withScheduler { base in
            let first = try await Self.status(base, keepAlive: false)
            let second = try await Self.status(base, keepAlive: false)
            #expect(first.status == 200 && first.header("connection") == "close")
            #expect(first.header("server") == KilnServerName.value)
            #expect(!second.reusedConnection, "Connection: close was answered by closing")
        }
    }

    @Test func aKeepAliveRequestKeepsItsConnectionForTheNext() async throws {
        try await SchedulerEndpointTests.withScheduler { base in
            let first = try await Self.status(base, keepAlive: true)
            #expect(first.status == 200 && first.header("connection") != "close")
            let second = try await Self.status(base, keepAlive: true)
            let third = try await Self.status(base, keepAlive: true)
            #expect(!first.reusedConnection)
            #expect(second.reusedConnection && third.reusedConnection, "one connection for all three")
        }
    }

    @Test func peersAreTrustedWithKeepAliveOnlyWhenTheyNameKiln() async throws {
        try await SchedulerEndpointTests.withScheduler { base in
            let peers = KeepAlivePeers(serverName: KilnServerName.value)
            #expect(!peers.keepsAlive(base))
            peers.learn(from: try await Self.status(base, keepAlive: false), of: base)
            #expect(peers.keepsAlive(base))
            // An answer that names no Kiln server (a file here: no headers at all), as from sccache-dist's scheduler.
            let directory = try TemporaryDirectory()
            let other = try await CurlTransport().perform(HTTPRequest(method: .get, url: "file://" + (try directory.write("answer", [1]))))
            peers.learn(from: other, of: base)
            #expect(!peers.keepsAlive(base), "a peer replaced by another server loses keep-alive")
        }
    }
}
