import Foundation
import KilnConfiguration
import KilnTestSupport
import Testing

/// Issue 20, item 3: `max_connections` and `connection_idle_timeout` hold on a running scheduler (the builder's
/// listeners use the same ``ConnectionPolicy``; the end-to-end IdleConnectionsTests cover them under a real farm).
@Suite struct ConnectionLimitsTests {
    /// A TCP connection to `base`'s port.
    static func connect(_ base: String) throws -> Int32 {
        let port = UInt16(base.split(separator: ":")[2].prefix { $0.isNumber })!
        guard let descriptor = try LoopbackConnection.open(port: port) else { throw POSIXError(.ECONNREFUSED) }
        return descriptor
    }

    /// Whether the server closed `descriptor` within `seconds` (a read sees the end, or a reset).
    static func closedByServer(_ descriptor: Int32, within seconds: Int32) -> Bool {
        var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, seconds * 1000) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, 0) <= 0
    }

    /// A `GET status` on `descriptor`: the answer's first line, or nil when the server closed the connection.
    static func statusLine(_ descriptor: Int32, keepAlive: Bool = false) -> String? {
        let request = Array("GET /api/v1/scheduler/status HTTP/1.1\r\nHost: x\r\n\(keepAlive ? "" : "Connection: close\r\n")\r\n".utf8)
        guard send(descriptor, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 512)
        var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, 10_000) == 1 else { return nil }
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self).components(separatedBy: "\r\n").first
    }

    /// Runs blocking socket work on a thread of Dispatch's: on the cooperative pool (two threads here) it would starve
    /// the in-process servers of other suites.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in DispatchQueue.global().async { continuation.resume(returning: work()) } }
    }

    @Test func connectionsBeyondTheCapAreClosedOnArrival() async throws {
        var limits = ConnectionLimitsConfiguration()
        limits.maxConnections = 4
        try await SchedulerEndpointTests.withScheduler(connections: limits) { base in
            let held = try (0..<4).map { _ in try Self.connect(base) }
            defer { held.prefix(3).forEach { close($0) } }  // the fourth is closed below
            // Each answered and kept: all four are counted before the fifth arrives.
            let kept = await Self.blocking { held.map { Self.statusLine($0, keepAlive: true) } }
            #expect(kept == Array(repeating: "HTTP/1.1 200 OK", count: 4))
            let fifth = try Self.connect(base)
            defer { close(fifth) }
            #expect(await Self.blocking { Self.statusLine(fifth) } == nil, "the fifth connection is not served")
            close(held[3])
            // The server learns of the close on its own time: a new connection is served once it has.
            let servedAgain = await Self.blocking {
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline {
                    guard let again = try? Self.connect(base) else { continue }
                    defer { close(again) }
                    if Self.statusLine(again) == "HTTP/1.1 200 OK" { return true }
                }
                return false
            }
            #expect(servedAgain, "a freed place is taken again")
        }
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() async throws {
        var limits = ConnectionLimitsConfiguration()
        limits.idleTimeoutSeconds = 1
        try await SchedulerEndpointTests.withScheduler(connections: limits) { base in
            let silent = try Self.connect(base)
            defer { close(silent) }
            // The default (60 s) would keep it past the 30 s waited here.
            #expect(await Self.blocking { Self.closedByServer(silent, within: 30) }, "closed by the server")
        }
    }
}
