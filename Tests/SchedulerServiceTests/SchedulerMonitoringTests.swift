import CurlClient
import Foundation
import KilnMetrics
import KilnProtocol
import Prometheus
import ServiceSupport
import Testing

/// `/metrics`, `/api/v1/kiln/status` and the status page of an in-process scheduler, with a Prometheus registry
/// of the test's own.
@Suite struct SchedulerMonitoringTests {
    typealias Endpoints = SchedulerEndpointTests

    @Test func countersGaugesAndStatusFollowHeartbeatsAndAllocations() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = SchedulerMetrics(factory: PrometheusMetricsFactory(registry: registry))
        try await Endpoints.withScheduler(metrics: metrics, exposition: MetricsExposition { registry.emitToBuffer() }) { base in
            let root = String(base.dropLast("/api/v1/scheduler".count))
            let unplaced = try await Endpoints.send(.post, base + "/alloc_job", token: "cli", body: Endpoints.toolchain)
            #expect(unplaced.status == 200, "no server: a Fail, the client compiles locally")
            for _ in 0..<2 {
                #expect(
                    try await Endpoints.send(.post, base + "/heartbeat_server", token: "127.0.0.1:10501 srv", body: try Endpoints.heartbeat()).status
                        == 200)
            }
            let stranger = try BincodeEncoder().encode(
                HeartbeatServerHttpRequest(
                    jwtKey: [UInt8](repeating: 1, count: 32), numCPUs: 0, serverNonce: ServerNonce(99), certDigest: [], certPEM: []))
            #expect(try await Endpoints.send(.post, base + "/heartbeat_server", token: "127.0.0.1:10502 srv", body: stranger).status == 500)

            let scrape = try await Endpoints.send(.get, root + "/metrics")
            #expect(scrape.status == 200 && scrape.header("content-type") == MetricsExposition.contentType)
            let text = String(decoding: scrape.body, as: UTF8.self)
            for line in [
                #"kiln_scheduler_jobs_total{outcome="no_capacity"} 1"#, #"kiln_scheduler_jobs_total{outcome="assigned"} 0"#,
                #"kiln_scheduler_heartbeats_total{kind="registered"} 1"#, #"kiln_scheduler_heartbeats_total{kind="renewed"} 1"#,
                #"kiln_scheduler_heartbeats_total{kind="refused"} 1"#, "kiln_scheduler_servers 1.0", "kiln_scheduler_slots 3.0",
                "kiln_scheduler_slots_busy 0.0", "kiln_scheduler_job_duration_seconds_count 0",
                #"kiln_scheduler_jobs_in_flight_by_kind{kind="reapi"} 0.0"#, #"kiln_scheduler_jobs_in_flight_by_kind{kind="sccache"} 0.0"#,
                #"kiln_scheduler_jobs_by_kind_total{kind="sccache",outcome="assigned"} 0"#,
            ] {
                #expect(text.split(separator: "\n").contains(Substring(line)), "missing \(line) in\n\(text)")
            }

            let status = try await Endpoints.send(.get, root + "/api/v1/kiln/status")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any])
            let farm = try #require(json["farm"] as? [String: Any])
            #expect((farm["servers"] as? [Any])?.count == 1 && farm["slotsTotal"] as? Int == 3)
            #expect(farm["jobsByKind"] as? [String: Int] == ["sccache": 0, "reapi": 0])
            let failures = (json["recentFailures"] as? [[String: Any]] ?? []).compactMap { $0["what"] as? String }
            #expect(failures.count == 2, "\(failures)")
            #expect(failures.first?.hasPrefix("refused") == true && failures.last?.hasPrefix("no capacity") == true, "newest first: \(failures)")

            let page = try await Endpoints.send(.get, root + "/")
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(page.status == 200 && page.header("content-type") == "text/html; charset=utf-8")
            #expect(html.contains("<script id=\"initial\" type=\"application/json\">{") && html.contains("\"slotsTotal\":3"))
            #expect(!html.contains("<</"), "no markup from the data")
        }
    }
}
