import CurlClient
import Foundation
import KilnErrors
import KilnTestSupport
import Testing

/// Failures come back as typed errors, and the size bound holds. (Answers from real servers, HTTPS pinning
/// included, are exercised by the scheduler's endpoint and end-to-end tests.)
@Suite struct CurlTransportTests {
    @Test func refusedConnectionIsAConnectError() async throws {
        // Port 9 (discard) on loopback has no listener here.
        let error = await #expect(throws: CurlError.self) {
            try await CurlTransport().perform(HTTPRequest(method: .get, url: "http://127.0.0.1:9/", timeoutSeconds: 5))
        }
        #expect(error?.code == .connect)
        #expect((error?.underlying as? ErrorText)?.text.isEmpty == false, "libcurl's reason is kept")
    }

    /// A cancelled caller stops its transfer at once rather than holding a pool thread until the deadline: here
    /// the peer never answers and the deadline is two minutes, so only the cancellation can end the call.
    @Test func cancellationStopsATransferInFlight() async throws {
        let listener = try LoopbackListener()
        let call = Task {
            try await CurlTransport().perform(HTTPRequest(method: .get, url: "http://127.0.0.1:\(listener.port)/", timeoutSeconds: 120))
        }
        let arrived = try await OwnThread.run { listener.awaitPendingConnection(milliseconds: 30_000) }
        #expect(arrived)
        call.cancel()
        let error = await #expect(throws: CurlError.self) { try await call.value }
        #expect(error?.code == .cancelled)
    }

    @Test func answersLargerThanTheBoundAreRefused() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("big", [UInt8](repeating: 65, count: 100_000))
        let small = HTTPRequest(method: .get, url: "file://\(path)", maxResponseBytes: 10_000)
        let error = await #expect(throws: CurlError.self) { try await CurlTransport().perform(small) }
        #expect(error?.code == .tooLarge)
        let fits = try await CurlTransport().perform(HTTPRequest(method: .get, url: "file://\(path)", maxResponseBytes: 100_000))
        #expect(fits.body.count == 100_000)
    }

    @Test func pinnedCertificateMismatchIsATLSError() async throws {
        // A PEM that is not the server's: nothing listens with TLS here, but a bad anchor must fail before that.
        let request = HTTPRequest(
            method: .get, url: "https://127.0.0.1:9/", timeoutSeconds: 5,
            pinnedCertificatePEM: Array("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n".utf8))
        await #expect(throws: CurlError.self) { try await CurlTransport().perform(request) }
    }
}
