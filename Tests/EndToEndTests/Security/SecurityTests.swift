import Foundation
import KilnTestSupport
import Testing

/// The hostile suite: every attack of ``HostileAttack/all`` runs as a real job through a Kiln builder (overlay as
/// root, overlay rootless as an unprivileged user, docker) with tight `[job_limits]`; each must fail, and the
/// builder must serve a plain job right after it. Prints a table of cases and outcomes per sandbox.
@Suite(.serialized) struct SecurityTests {
    static let modes: [BuilderSandboxKind] = [.overlay, .rootless, .docker]
    static let limits = """
        [job_limits]
        timeout = 10
        memory = "256M"
        processes = 128
        disk = "64M"
        """

    static func skipReason(_ mode: BuilderSandboxKind) -> String? {
        Binaries.missingPrerequisite ?? mode.missingPrerequisite
            ?? (FileManager.default.fileExists(atPath: "/bin/busybox") ? nil : "/bin/busybox is missing (apt install busybox-static)")
    }

    @Test(arguments: modes) func everyAttackFailsAndTheBuilderServesOn(mode: BuilderSandboxKind) throws {
        if let reason = Self.skipReason(mode) {
            print("SKIP SecurityTests.everyAttackFailsAndTheBuilderServesOn [\(mode)]: \(reason)")
            return
        }
        let bench = try HostileBench(try BuilderEndpointTests.Probe(sandbox: mode, tables: Self.limits))
        #expect(bench.servesAPlainJob(), "a plain job works before any attack\n\(bench.probe.farm.logs)")
        var rows: [(String, String, String)] = []
        for attack in HostileAttack.all {
            let verdict: HostileAttack.Verdict
            do { verdict = try attack.attack(bench) } catch { verdict = .init(held: false, outcome: "the test could not run it: \(error)") }
            let serves = bench.servesAPlainJob()
            #expect(verdict.held, "\(mode): \(attack.name): \(verdict.outcome)")
            #expect(serves, "\(mode): no plain job after \(attack.name)\n\(bench.probe.farm.logs)")
            #expect(bench.probe.builder.isRunning)
            rows.append((attack.name, (verdict.held ? "held: " : "BREACHED: ") + verdict.outcome, serves ? "serves" : "BROKEN"))
        }
        print(Self.table(rows, title: "Hostile jobs against the \(mode) builder"))
    }

    /// A client that hangs up mid-job gets its job killed and its sandbox cleaned long before the job's own
    /// (default, ten-minute) deadline would.
    @Test(arguments: modes) func aClientThatHangsUpGetsItsJobKilled(mode: BuilderSandboxKind) throws {
        if let reason = Self.skipReason(mode) {
            print("SKIP SecurityTests.aClientThatHangsUpGetsItsJobKilled [\(mode)]: \(reason)")
            return
        }
        let bench = try HostileBench(try BuilderEndpointTests.Probe(sandbox: mode))
        let marker = "kiln-hangup-\(UUID().uuidString.prefix(8))"
        let answer = try bench.run("busybox sleep 3000 # \(marker)", maxTime: 3)
        #expect(answer.result == nil, "curl gave up before the answer")
        #expect(HostileBench.survivors(holding: marker, seconds: 60).isEmpty, "the job's processes were killed\n\(bench.probe.farm.logs)")
        #expect(bench.servesAPlainJob())
    }

    static func table(_ rows: [(String, String, String)], title: String) -> String {
        let widths = (max(4, rows.map(\.0.count).max() ?? 0), max(7, rows.map(\.1.count).max() ?? 0))
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        var lines = [title, "| \(pad("case", widths.0)) | \(pad("outcome", widths.1)) | builder after |"]
        lines.append("|\(String(repeating: "-", count: widths.0 + 2))|\(String(repeating: "-", count: widths.1 + 2))|---------------|")
        for row in rows { lines.append("| \(pad(row.0, widths.0)) | \(pad(row.1, widths.1)) | \(pad(row.2, 13)) |") }
        return lines.joined(separator: "\n")
    }
}
