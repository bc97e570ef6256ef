import Foundation
import KilnTestSupport
import Testing

/// Why the fuzzer cannot run here, or nil.
let missingPython: String? = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? nil : "/usr/bin/python3 is missing"

/// Issue 20, item 2: a running scheduler and a running builder take 100,000 mutated requests built from real
/// captured sccache traffic (`scripts/fuzz/live_fuzz.py`), with the farm's own credentials so that mutations get
/// past authentication. Afterwards both are the same processes, stayed under their memory bounds, and a real
/// sccache compile through them is distributed. `KILN_FUZZ_REQUESTS` changes the count (`scripts/fuzz/run`).
@Suite(.serialized, .requires(Binaries.missingPrerequisite ?? missingPython)) struct LiveFuzzTests {
    static let fuzzer = SharedVectors.repositoryRoot.appendingPathComponent("scripts/fuzz/live_fuzz.py").path

    /// The peak resident sizes the servers may reach under the fuzzer (their idle size is 20–40 MiB).
    static let schedulerBoundMiB = 256
    static let builderBoundMiB = 512

    static func peakMiB(_ process: ManagedProcess) -> Int? {
        let status = (try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(whereSeparator: \.isWhitespace)[1]) }
            .map { $0 / 1024 }
    }

    @Test func oneHundredThousandMutatedRequestsCrashNothing() throws {
        let requests = Int(ProcessInfo.processInfo.environment["KILN_FUZZ_REQUESTS"] ?? "") ?? 100_000
        // A bound that only a hung server reaches: this machine answers about 350 requests a second (debug build).
        let timeLimit = max(1800, requests / 50)
        let farm = try Farm()
        // Allocations the fuzzer makes and never runs hold builder slots until they are reaped.
        let scheduler = try farm.startKilnScheduler(topLevel: "unstarted_job_timeout = 10")
        let port = freePort()
        let builder = try farm.startKilnBuilder(port: port)
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "fuzz")
        try client.start()
        try SchedulerConformanceTests.compileAndCompare(client, "before", farm: farm, salt: 1)

        let run = try runToCompletion(
            "/usr/bin/python3",
            [
                Self.fuzzer, "--scheduler", "127.0.0.1:\(farm.schedulerPort)", "--builder", "127.0.0.1:\(port)", "--client-token",
                farm.clientToken, "--server-token", farm.serverToken, "--requests", "\(requests)", "--seed", "20", "--time-limit",
                "\(timeLimit)",
            ], timeoutSeconds: Double(timeLimit + 300))
        print(run.output.split(separator: "\n").filter { !$0.hasPrefix("live_fuzz-json") }.joined(separator: "\n"))
        #expect(run.status == 0, "the fuzzer sent every request: \(run.output.suffix(3000))")
        let summary = try #require(
            run.output.split(separator: "\n").first { $0.hasPrefix("live_fuzz-json ") }.flatMap { line in
                try? JSONSerialization.jsonObject(with: Data(line.dropFirst("live_fuzz-json ".count).utf8)) as? [String: Any]
            })
        #expect((summary["sent"] as? Int ?? 0) >= requests)
        let answers = summary["answers"] as? [String: [String: Int]] ?? [:]
        for target in ["scheduler", "builder"] {
            #expect(answers[target]?["refused"] == nil, "\(target) stopped accepting connections: \(answers)")
            #expect((answers[target]?["2xx"] ?? 0) > 0 && (answers[target]?["4xx"] ?? 0) > 0, "mutations reached past the front door: \(answers)")
        }

        #expect(scheduler.isRunning && builder.isRunning, "both servers are the processes that took the traffic\n\(farm.logs)")
        let (schedulerPeak, builderPeak) = (Self.peakMiB(scheduler) ?? -1, Self.peakMiB(builder) ?? -1)
        print("LiveFuzzTests: peak resident size: scheduler \(schedulerPeak) MiB, builder \(builderPeak) MiB")
        #expect((0..<Self.schedulerBoundMiB).contains(schedulerPeak), "scheduler peak \(schedulerPeak) MiB")
        #expect((0..<Self.builderBoundMiB).contains(builderPeak), "builder peak \(builderPeak) MiB")
        try farm.waitFor("the fuzzer's allocations to be reaped", seconds: 60) { JobReapingEndToEndTests.jobsInFlight(farm) == 0 }
        try SchedulerConformanceTests.compileAndCompare(client, "after", farm: farm, salt: 2)
        #expect(try client.stats().total == 2, "a real compile is still distributed after the fuzzing\n\(farm.logs)")
    }
}
