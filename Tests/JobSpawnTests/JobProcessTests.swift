import Foundation
import JobSpawn
import Testing

/// A job's first process, started directly: exactly its environment and descriptors, its own session, its rlimits,
/// and every way it can end.
@Suite struct JobProcessTests {
    static func shell(_ script: String, environment: [String: String] = [:], limits: [JobProcess.ResourceLimit] = []) -> JobProcess {
        JobProcess(executable: "/bin/sh", arguments: ["-c", script], environment: environment, limits: limits)
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func runsWithExactlyItsEnvironmentAndNoInheritedDescriptor() async throws {
        let environment = await Self.shell("env", environment: ["KILN": "1"]).run(timeout: .seconds(30), maxStreamBytes: 1 << 16)
        #expect(environment.ending == .exited(0))
        #expect(Self.text(environment.stdout).split(separator: "\n").filter { !$0.hasPrefix("PWD=") } == ["KILN=1"])
        // Open descriptors of the test process (this file's, the runner's) must not reach the child: ls sees its own
        // three streams and the directory it reads.
        let keepOpen = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/etc/hostname"))
        defer { try? keepOpen.close() }
        let descriptors = await JobProcess(executable: "/bin/ls", arguments: ["-1", "/proc/self/fd"]).run(timeout: .seconds(30), maxStreamBytes: 4096)
        #expect(Self.text(descriptors.stdout) == "0\n1\n2\n3\n")
        let stdin = await Self.shell("wc -c").run(timeout: .seconds(30), maxStreamBytes: 4096)
        #expect(Self.text(stdin.stdout).trimmingCharacters(in: .whitespacesAndNewlines) == "0", "stdin is /dev/null")
    }

    @Test func exitCodesStreamsAndSignalsAreReported() async {
        let failed = await Self.shell("echo out; echo err >&2; exit 3").run(timeout: .seconds(30), maxStreamBytes: 4096)
        #expect(failed.ending == .exited(3) && Self.text(failed.stdout) == "out\n" && Self.text(failed.stderr) == "err\n")
        let killed = await Self.shell("kill -TERM $$").run(timeout: .seconds(30), maxStreamBytes: 4096)
        #expect(killed.ending == .signaled(SIGTERM))
        let missing = await JobProcess(executable: "/nonexistent/kiln-compiler", arguments: []).run(timeout: .seconds(30), maxStreamBytes: 4096)
        #expect(missing.ending == .notStarted(stage: "execve", errno: ENOENT))
    }

    @Test func itLeadsASessionOfItsOwnWithItsRlimits() async {
        let outcome = await Self.shell("read -r stat < /proc/$$/stat; echo $stat; ulimit -c; ulimit -f", limits: [.core(0), .fileSize(1 << 20)])
            .run(timeout: .seconds(30), maxStreamBytes: 4096)
        let lines = Self.text(outcome.stdout).split(separator: "\n")
        let fields = lines.first.map { $0.split(separator: ")").last?.split(separator: " ") ?? [] } ?? []
        let pid = lines.first?.split(separator: " ").first
        #expect(fields.count > 4 && fields[2] == pid && fields[3] == pid, "process group and session are its own pid: \(lines)")
        #expect(Array(lines.dropFirst()) == ["0", "2048"], "core 0, files of 1 MiB (2048 blocks of 512 bytes)")
    }

    @Test func theDeadlineKillsTheWholeGroup() async {
        let marker = "kiln-spawn-\(UUID().uuidString.prefix(8))"
        let outcome = await Self.shell("/bin/sh -c 'sleep 300; exit # \(marker)' & sleep 300").run(timeout: .milliseconds(300), maxStreamBytes: 4096)
        #expect(outcome.ending == .timedOut)
        #expect(Self.processes(holding: marker).isEmpty, "the background child of the group was killed too")
    }

    @Test func cancellationKillsIt() async {
        let marker = "kiln-cancel-\(UUID().uuidString.prefix(8))"
        let task = Task { await Self.shell("sleep 300; exit # \(marker)").run(timeout: nil, maxStreamBytes: 4096) }
        #expect(await Self.waitForProcess(holding: marker), "the process started")
        task.cancel()
        #expect(await task.value.ending == .cancelled)
        #expect(Self.processes(holding: marker).isEmpty, "it was killed")
    }

    /// Polls (at most 30 s) until a process whose command line holds `marker` runs; between looks the thread is
    /// free for the task that starts it.
    static func waitForProcess(holding marker: String) async -> Bool {
        for _ in 0..<3000 {
            if !Self.running(holding: marker).isEmpty { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func aStreamPastTheLimitEndsIt() async {
        let outcome = await Self.shell("while :; do echo 0123456789; done").run(timeout: .seconds(30), maxStreamBytes: 10_000)
        #expect(outcome.ending == .streamTooLarge)
        #expect(outcome.stdout.count <= 10_000)
    }

    /// Processes whose command line holds `marker`, after a moment for killed ones to be reaped.
    static func processes(holding marker: String) -> [String] {
        for _ in 0..<50 {
            if Self.running(holding: marker).isEmpty { return [] }
            usleep(100_000)
        }
        return ["still running"]
    }

    static func running(holding marker: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(marker)
        }
    }
}
