import BuilderCore
import Foundation
import KilnMetrics
import KilnProtocol
import KilnTestSupport
import Prometheus
import SchedulerCore
import Synchronization
import Testing
import ToolchainStore

@testable import BuilderService

/// A builder tells REAPI actions from sccache jobs by their toolchain, and its metrics count each kind.
@Suite struct JobKindsTests {
    static let imageRoot = HostRootToolchain.toolchain(containerImage: "registry.example/tools:1")

    @Test func theToolchainTellsAnActionFromAnSccacheJob() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-job-kinds")
        let kinds = ToolchainKinds()
        #expect(kinds.kind(of: HostRootToolchain.toolchain.archiveID, archivePath: nil) == .remoteAction, "the builder's own root, by id")

        let compiler = directory.path + "/compiler.tar"
        try Data("a real toolchain is a compiler's files".utf8).write(to: URL(fileURLWithPath: compiler))
        #expect(kinds.kind(of: "a-compiler", archivePath: compiler) == .sccache)

        // An image's root not in the cache yet counts as sccache's, and is read again once it is there.
        let image = directory.path + "/image.tar"
        #expect(kinds.kind(of: Self.imageRoot.archiveID, archivePath: image) == .sccache)
        try Data(HostRootToolchain.archive(containerImage: "registry.example/tools:1")).write(to: URL(fileURLWithPath: image))
        #expect(kinds.kind(of: Self.imageRoot.archiveID, archivePath: image) == .remoteAction)
        // Remembered: the archive may leave the cache while its results are still served.
        try FileManager.default.removeItem(atPath: image)
        #expect(kinds.kind(of: Self.imageRoot.archiveID, archivePath: image) == .remoteAction)
    }

    @Test func runningJobsAreCountedByKindUntilTheyEnd() async throws {
        let kinds = ToolchainKinds()
        let reports = Mutex<[[JobKind: Int]]>([])
        let record: @Sendable ([JobKind: Int]) -> Void = { counts in reports.withLock { $0.append(counts) } }
        await kinds.running(.remoteAction, report: record) {
            await kinds.running(.sccache, report: record) {}
        }
        await #expect(throws: CancellationError.self) {
            try await kinds.running(.sccache, report: record) { throw CancellationError() }
        }
        let seen = reports.withLock { $0 }
        #expect(seen.map { $0[.remoteAction, default: 0] } == [1, 1, 1, 0, 0, 0])
        #expect(seen.map { $0[.sccache, default: 0] } == [0, 1, 0, 0, 1, 0], "a job that throws is counted out too")
    }

    @Test func theBuildersMetricsSplitTheKinds() {
        let registry = PrometheusCollectorRegistry()
        let metrics = BuilderMetrics(factory: PrometheusMetricsFactory(registry: registry))
        metrics.count(.succeeded, of: .remoteAction)
        metrics.count(.succeeded, of: .sccache)
        metrics.count(.sandboxError, of: .remoteAction)
        metrics.recordRunning([.remoteAction: 2])
        let text = PrometheusText(String(decoding: registry.emitToBuffer(), as: UTF8.self))
        #expect(text.value("kiln_builder_jobs_total", ["outcome": "succeeded"]) == 2, "the series of both kinds keeps counting all jobs")
        #expect(text.value("kiln_builder_jobs_by_kind_total", ["kind": "reapi", "outcome": "succeeded"]) == 1)
        #expect(text.value("kiln_builder_jobs_by_kind_total", ["kind": "reapi", "outcome": "sandbox_error"]) == 1)
        #expect(text.value("kiln_builder_jobs_by_kind_total", ["kind": "sccache", "outcome": "succeeded"]) == 1)
        #expect(text.value("kiln_builder_jobs_by_kind_total", ["kind": "sccache", "outcome": "compile_failed"]) == 0)
        #expect(text.value("kiln_builder_jobs_running_by_kind", ["kind": "reapi"]) == 2)
        #expect(text.value("kiln_builder_jobs_running_by_kind", ["kind": "sccache"]) == 0)
    }
}
