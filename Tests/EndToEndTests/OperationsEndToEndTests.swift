import Foundation
import KilnTestSupport
import Testing

/// What an operator sees of a farm that served real compiles: the Prometheus counters of the scheduler and of
/// the builder move, the status JSON and the builder's inventory list what is there, and the status page renders
/// the registered builder in a real headless Chromium without console errors.
@Suite(.serialized, .requires(SecurityTests.skipReason(.overlay))) struct OperationsEndToEndTests {
    /// A Kiln scheduler and a Kiln overlay builder with `metrics_addr`, after two real sccache 0.4.0 compiles
    /// (the first uploads the toolchain, the second finds it cached).
    final class ServedFarm {
        let farm: Farm
        let builderPort = freePort()
        let metricsPort = freePort()

        init() throws {
            farm = try Farm()
            try farm.startKilnScheduler()
            try farm.startKilnBuilder(port: builderPort, topLevel: "metrics_addr = \"127.0.0.1:\(metricsPort)\"\n")
            try farm.waitForServers(1)
            let client = try SccacheClient(farm: farm, version: "0.4.0", name: "operations")
            try client.start()
            try SchedulerConformanceTests.compileAndCompare(client, "first", farm: farm, salt: 41)
            try SchedulerConformanceTests.compileAndCompare(client, "second", farm: farm, salt: 42)
            client.stop()
        }

        var builderID: String { "127.0.0.1:\(builderPort)" }

        func scrape(_ url: String) throws -> PrometheusText {
            PrometheusText(try #require(farm.get(url), "GET \(url)\n\(farm.logs)"))
        }
    }

    @Test func countersMoveAfterRealCompiles() throws {
        let served = try ServedFarm()
        let scheduler = try served.scrape(served.farm.schedulerURL + "/metrics")
        #expect(scheduler.value("kiln_scheduler_jobs_total", ["outcome": "assigned"]) == 2, "\(scheduler.text)")
        #expect(scheduler.value("kiln_scheduler_jobs_total", ["outcome": "completed"]) == 2)
        #expect(scheduler.value("kiln_scheduler_jobs_total", ["outcome": "no_capacity"]) == 0)
        #expect(scheduler.value("kiln_scheduler_job_duration_seconds_count") == 2)
        #expect(scheduler.value("kiln_scheduler_queue_wait_seconds_count") == 2)
        #expect(scheduler.value("kiln_scheduler_heartbeats_total", ["kind": "registered"]) == 1)
        #expect(scheduler.value("kiln_scheduler_servers") == 1)
        #expect((scheduler.value("kiln_scheduler_slots") ?? 0) >= 1)

        let builder = try served.scrape("http://127.0.0.1:\(served.metricsPort)/metrics")
        #expect(builder.value("kiln_builder_jobs_total", ["outcome": "succeeded"]) == 2, "\(builder.text)")
        #expect(builder.value("kiln_builder_jobs_total", ["outcome": "sandbox_error"]) == 0)
        #expect(builder.value("kiln_builder_toolchain_cache_lookups_total", ["result": "miss"]) == 1)
        #expect(builder.value("kiln_builder_toolchain_cache_lookups_total", ["result": "hit"]) == 1)
        #expect(builder.value("kiln_builder_toolchain_cache_entries") == 1)
        #expect((builder.value("kiln_builder_toolchain_cache_bytes") ?? 0) > 0)
        #expect(builder.value("kiln_builder_toolchain_unpack_seconds_count") == 1, "the toolchain is unpacked once")
        #expect(builder.value("kiln_builder_sandbox_setup_seconds_count") == 2)
        #expect(builder.value("kiln_builder_compile_seconds_count") == 2)
        #expect(builder.value("kiln_builder_job_duration_seconds_count") == 2)
        #expect(builder.value("kiln_builder_results_total", ["source": "built"]) == 2, "two different sources: no cache hit")
        #expect(builder.value("kiln_builder_result_cache_entries") == 2)
        #expect((builder.value("kiln_builder_heartbeats_total", ["outcome": "sent"]) ?? 0) >= 1)
        #expect(builder.value("kiln_builder_slots_busy") == 0)
        #expect(builder.value("kiln_builder_draining") == 0)
    }

    @Test func statusJSONAndInventoryListTheBuilderAndItsToolchain() throws {
        let served = try ServedFarm()
        let inventoryText = try #require(served.farm.get("http://127.0.0.1:\(served.metricsPort)/api/v1/kiln/toolchains"))
        let inventory = try #require(try JSONSerialization.jsonObject(with: Data(inventoryText.utf8)) as? [String: Any])
        let toolchains = try #require(inventory["toolchains"] as? [[String: Any]], "\(inventoryText)")
        let bytes = toolchains.first?["bytes"] as? Int ?? 0
        #expect(toolchains.count == 1 && bytes > 0, "\(inventoryText)")
        let archiveID = try #require(toolchains.first?["archiveID"] as? String)

        let statusText = try #require(served.farm.get(served.farm.schedulerURL + "/api/v1/kiln/status"))
        let status = try #require(try JSONSerialization.jsonObject(with: Data(statusText.utf8)) as? [String: Any])
        let farm = try #require(status["farm"] as? [String: Any], "\(statusText)")
        let servers = try #require(farm["servers"] as? [[String: Any]], "\(statusText)")
        #expect(servers.map { $0["id"] as? String } == [served.builderID], "\(statusText)")
        #expect(servers.first?["toolchains"] as? [String] == [archiveID], "the scheduler knows what the builder holds: \(statusText)")
        #expect(status["jobsInFlight"] as? Int == 0)
        #expect(farm["toolchains"] as? Int == 1)
    }

    @Test(.requires(StatusPageBrowser.chromium == nil ? "no chromium (apt install chromium; scripts/test installs it)" : nil))
    func theStatusPageShowsTheBuilderInChromiumWithoutConsoleErrors() throws {
        let chromium = try #require(StatusPageBrowser.chromium)
        let served = try ServedFarm()
        let page = try StatusPageBrowser.load(served.farm.schedulerURL + "/", chromium: chromium, scratch: served.farm.root)
        #expect(page.dom.contains("data-server=\"\(served.builderID)\""), "the rendered page lists the builder:\n\(page.dom.prefix(4000))")
        #expect(page.dom.contains("<b id=\"servers\">1</b>"), "\(page.dom.prefix(4000))")
        #expect(page.consoleMessages.isEmpty, "console messages: \(page.consoleMessages)")
    }
}
