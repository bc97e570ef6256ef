import Foundation
import KilnProtocol
import KilnTestSupport
import Synchronization
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

    @Test(.requires(skipReason(.overlay))) func everyAttackFailsAndTheBuilderServesOnWithOverlay() throws {
        try everyAttackFailsAndTheBuilderServesOn(mode: .overlay)
    }
    @Test(.requires(skipReason(.rootless))) func everyAttackFailsAndTheBuilderServesOnWithRootless() throws {
        try everyAttackFailsAndTheBuilderServesOn(mode: .rootless)
    }
    @Test(.requires(skipReason(.docker))) func everyAttackFailsAndTheBuilderServesOnWithDocker() throws {
        try everyAttackFailsAndTheBuilderServesOn(mode: .docker)
    }

    func everyAttackFailsAndTheBuilderServesOn(mode: BuilderSandboxKind) throws {
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
    @Test(.requires(skipReason(.overlay))) func aClientThatHangsUpGetsItsJobKilledWithOverlay() throws {
        try aClientThatHangsUpGetsItsJobKilled(mode: .overlay)
    }
    @Test(.requires(skipReason(.rootless))) func aClientThatHangsUpGetsItsJobKilledWithRootless() throws {
        try aClientThatHangsUpGetsItsJobKilled(mode: .rootless)
    }
    @Test(.requires(skipReason(.docker))) func aClientThatHangsUpGetsItsJobKilledWithDocker() throws {
        try aClientThatHangsUpGetsItsJobKilled(mode: .docker)
    }

    func aClientThatHangsUpGetsItsJobKilled(mode: BuilderSandboxKind) throws {
        let bench = try HostileBench(try BuilderEndpointTests.Probe(sandbox: mode))
        let marker = "kiln-hangup-\(UUID().uuidString.prefix(8))"
        let answer = try bench.run("busybox sleep 3000 # \(marker)", maxTime: 3)
        #expect(answer.result == nil, "curl gave up before the answer")
        #expect(HostileBench.survivors(holding: marker, seconds: 60).isEmpty, "the job's processes were killed\n\(bench.probe.farm.logs)")
        #expect(bench.servesAPlainJob())
    }

    /// Issue 19, hole 9: eight jobs at once, each returning a 1 GiB output, keep the builder under the README's
    /// ceiling (outputs are compressed as they are read: a job holds its compressed outputs, never their raw
    /// bytes). Zeros compress a thousandfold, so reading them whole, as before, is what would show.
    @Test(.requires(skipReason(.overlay))) func eightGigabyteOutputsAtOnceStayUnderTheMemoryCeilingWithOverlay() throws {
        try eightGigabyteOutputsAtOnceStayUnderTheMemoryCeiling(mode: .overlay)
    }
    @Test(.requires(skipReason(.rootless))) func eightGigabyteOutputsAtOnceStayUnderTheMemoryCeilingWithRootless() throws {
        try eightGigabyteOutputsAtOnceStayUnderTheMemoryCeiling(mode: .rootless)
    }
    @Test(.requires(skipReason(.docker))) func eightGigabyteOutputsAtOnceStayUnderTheMemoryCeilingWithDocker() throws {
        try eightGigabyteOutputsAtOnceStayUnderTheMemoryCeiling(mode: .docker)
    }

    func eightGigabyteOutputsAtOnceStayUnderTheMemoryCeiling(mode: BuilderSandboxKind) throws {
        let bench = try HostileBench(try BuilderEndpointTests.Probe(sandbox: mode, maxJobs: 8))
        let answers = Mutex<[HostileBench.Answer]>([])
        let jobs = (0..<8).map { index in
            let thread = Thread {
                let answer = try? bench.run(
                    "busybox dd if=/dev/zero of=big\(index).o bs=1M count=1024 2>/dev/null", outputs: ["big\(index).o"], readOutputs: false)
                answers.withLock { $0.append(answer ?? HostileBench.Answer(status: -1, result: nil, text: "")) }
            }
            thread.stackSize = 1 << 20
            return thread
        }
        jobs.forEach { $0.start() }
        while answers.withLock({ $0.count }) < 8 { usleep(100_000) }
        let status = (try? String(contentsOfFile: "/proc/\(bench.probe.builder.pid)/status", encoding: .utf8)) ?? ""
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(whereSeparator: \.isWhitespace)[1]) }
        let whole = answers.withLock { $0 }.filter { $0.result?.outputs.first?.data.uncompressedLength == 1 << 30 }.count
        let peak = try #require(peakKiB, "the builder's peak resident size")
        let held = whole == 8 && peak < Self.memoryCeilingKiB
        #expect(held, "\(mode): \(whole) of 8 whole outputs, builder peak \(peak / 1024) MiB (ceiling \(Self.memoryCeilingKiB / 1024) MiB)")
        print(
            Self.table(
                [
                    (
                        "eight 1 GiB outputs at once (memory ceiling)", "\(held ? "held" : "BREACHED"): peak \(peak / 1024) MiB, \(whole) of 8 whole",
                        "-"
                    )
                ],
                title: "Hostile jobs against the \(mode) builder (memory)"))
        #expect(bench.servesAPlainJob())
    }

    /// The README's ceiling for this test: the builder's own memory plus, per job, its compressed outputs held a
    /// few times while the answer is encoded (about 1 MiB here), far below one raw output.
    static let memoryCeilingKiB = 1 << 20

    static func table(_ rows: [(String, String, String)], title: String) -> String {
        let widths = (max(4, rows.map(\.0.count).max() ?? 0), max(7, rows.map(\.1.count).max() ?? 0))
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        var lines = [title, "| \(pad("case", widths.0)) | \(pad("outcome", widths.1)) | builder after |"]
        lines.append("|\(String(repeating: "-", count: widths.0 + 2))|\(String(repeating: "-", count: widths.1 + 2))|---------------|")
        for row in rows { lines.append("| \(pad(row.0, widths.0)) | \(pad(row.1, widths.1)) | \(pad(row.2, 13)) |") }
        return lines.joined(separator: "\n")
    }
}
