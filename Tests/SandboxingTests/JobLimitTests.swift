import Foundation
import KilnProtocol
import KilnTestSupport
import Sandboxing
import Testing

/// Per-job limits and clean-up of the overlay sandbox, as root and rootless (a user namespace of its own per job),
/// with real bubblewrap, overlayfs, cgroups and rlimits. Every attack must fail and the next job must work.
/// Why the limit tests cannot run here, or nil.
private let jobLimitTestsMissing =
    TestToolchain.missingPrerequisite
    ?? (FileManager.default.fileExists(atPath: "/bin/busybox") ? nil : "/bin/busybox is missing (apt install busybox-static)")

@Suite(.serialized, .enabled(if: jobLimitTestsMissing == nil, Comment(rawValue: jobLimitTestsMissing ?? "")))
struct JobLimitTests {

    struct Fixture {
        let directory: TemporaryDirectory
        let sandbox: OverlaySandbox
        let jobs: ShellJobs

        init(rootless: Bool) async throws {
            directory = try TemporaryDirectory(prefix: "kiln-limits")
            var limits = SandboxLimits()
            limits.timeout = .seconds(8)
            limits.memoryBytes = 256 << 20
            limits.maxProcesses = 64
            limits.diskBytes = 64 << 20
            limits.maxOutputBytes = 1 << 20
            sandbox = OverlaySandbox(
                buildDirectory: directory.path + "/build", bubblewrapPath: "/usr/bin/bwrap", toolchainBudget: 1 << 30, limits: limits,
                rootless: rootless)
            jobs = try ShellJobs(in: directory)
            try await sandbox.prepare()
            print("JobLimitTests rootless=\(rootless): \(sandbox.enforcementReport)")
            // As root, the next jobs run in sandboxes made ahead for this toolchain: the attacks meet those.
            _ = try await sandbox.run(try jobs.job("true", id: 98))
            await sandbox.settle()
        }

        /// The outcome of a job: its exit code, or the sandbox's refusal.
        func outcome(_ script: String, outputs: [String] = [], id: UInt64 = 1) async throws -> Result<JobComplete, SandboxError> {
            do { return .success(try await sandbox.run(try jobs.job(script, outputs: outputs, id: id))) } catch let error as SandboxError {
                return .failure(error)
            }
        }

        /// A plain job still works, and after shutdown nothing is left under build_dir/builds.
        func expectServesOn() async throws {
            let result = try await sandbox.run(try jobs.job("echo fine > ok.o", outputs: ["ok.o"], id: 99))
            #expect(try jobs.output(result, "ok.o") == "fine\n")
            await sandbox.shutdown()  // unmounting and deleting run after the answer; sandboxes made ahead go too
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/build/builds").isEmpty)
            #expect(!mountTable().contains(directory.path), "no mount stays behind")
        }
    }

    /// Processes whose command line holds `marker`, on the whole host.
    static func processes(holding marker: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(marker)
        }
    }

    @Test(arguments: [false, true]) func theReportNamesEveryLimit(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let report = fixture.sandbox.enforcementReport
        await fixture.sandbox.shutdown()
        #expect(report.contains(rootless ? "rootless" : "as root"))
        #expect(!report.contains("kiln-job-parker"), "the parker is found beside the tests: \(report)")
        for part in [
            "jobs run as uid 65532", "syscall filter on", "timeout 8.0 seconds", "memory 268435456 bytes by", "processes 64 by",
            "disk 67108864 bytes by", "outputs",
        ] {
            #expect(report.contains(part), "\(part) in: \(report)")
        }
    }

    @Test(arguments: [false, true]) func aMemoryBombIsStopped(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let outcome = try await fixture.outcome("busybox dd if=/dev/zero of=/dev/null bs=600M count=1 && echo survived")
        switch outcome {
        case .success(let result):
            #expect(result.output.code != 0 && !String(decoding: result.output.stdout, as: UTF8.self).contains("survived"))
        case .failure(let error):
            // Killed for it: the cgroup's memory counters say so, and only they (no processes limit was hit).
            #expect(error.code == .limitExceeded && error.message.contains("its memory limit"), "\(error)")
        }
        try await fixture.expectServesOn()
    }

    @Test(arguments: [false, true]) func aForkBombIsStoppedAndLeavesNothing(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let marker = "kiln-bomb-\(UUID().uuidString.prefix(8))"
        let outcome = try await fixture.outcome("b() { b | b & }; b; busybox sleep 3 # \(marker)")
        switch outcome {
        case .success(let result): #expect(result.output.code != 0 || !result.output.stderr.isEmpty)
        case .failure(let error) where error.code == .limitExceeded: #expect(error.message.contains("processes limit"), "\(error)")
        case .failure: break
        }
        #expect(Self.processes(holding: marker).isEmpty, "every process of the bomb is gone")
        try await fixture.expectServesOn()
    }

    @Test(arguments: [false, true]) func aDiskFillerIsStopped(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let many = try await fixture.outcome("i=0; while busybox dd if=/dev/zero of=f$i bs=1M count=8 2>/dev/null; do i=$((i+1)); done")
        guard case .failure(let error) = many else {
            Issue.record("the filler ran to its end: \(many)")
            return
        }
        #expect(error.code == .limitExceeded || error.code == .timedOut, "\(error)")
        let single = try await fixture.outcome("busybox dd if=/dev/zero of=big bs=1M count=200 2>/dev/null && echo wrote-all")
        if case .success(let result) = single {
            #expect(!String(decoding: result.output.stdout, as: UTF8.self).contains("wrote-all"), "RLIMIT_FSIZE stops one file at the limit")
        }
        try await fixture.expectServesOn()
    }

    /// A tree whose paths run past PATH_MAX (300 levels of 20-character names; `SandboxTreeTests` go 2,600 levels
    /// deep), then a disk filler at the bottom: the watch counts there, and the tree is deleted after the job.
    @Test(arguments: [false, true]) func aDiskFillerAtTheBottomOfADeepTreeIsStopped(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let deep = "d=deeper-than-a-path; i=0; while [ $i -lt 300 ]; do mkdir $d && cd -P $d || exit 9; i=$((i+1)); done; "
        let outcome = try await fixture.outcome(deep + "j=0; while busybox dd if=/dev/zero of=f$j bs=1M count=8 2>/dev/null; do j=$((j+1)); done")
        guard case .failure(let error) = outcome else {
            Issue.record("the deep disk filler was not stopped: \(outcome)")
            return
        }
        #expect(error.code == .limitExceeded, "\(error)")
        try await fixture.expectServesOn()
    }

    @Test(arguments: [false, true]) func anInfiniteLoopIsKilledAtTheDeadline(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let outcome = try await fixture.outcome("while :; do :; done")
        guard case .failure(let error) = outcome else {
            Issue.record("the loop returned: \(outcome)")
            return
        }
        #expect(error.code == .timedOut)
        try await fixture.expectServesOn()
    }

    @Test(arguments: [false, true]) func aProcessLeftRunningIsKilled(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let marker = "kiln-daemon-\(UUID().uuidString.prefix(8))"
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job("(busybox setsid busybox sh -c 'busybox sleep 1000 # \(marker)' &) ; echo started > s.o", outputs: ["s.o"]))
        #expect(try fixture.jobs.output(result, "s.o") == "started\n")
        #expect(Self.processes(holding: marker).isEmpty, "nothing of the job outlives it")
        try await fixture.expectServesOn()
    }

    /// A job runs as an unprivileged user on the host (as root: the job user; rootless: the server's), under the
    /// syscall filter, and can make no namespace of its own; `/dev` is read-only and `/dev/shm` is in its layer.
    @Test(arguments: [false, true]) func aJobIsUnprivilegedAndCannotMakeNamespaces(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let marker = "kiln-uid-\(UUID().uuidString.prefix(8))"
        let script = [
            "(busybox sh -c 'busybox sleep 3; echo # \(marker)' &)",
            "busybox unshare -r -n busybox ip link set lo up && echo NESTED-NET >> r.o",
            "busybox unshare -U true && echo NESTED-USER >> r.o",
            "busybox unshare -m true && echo NESTED-MOUNT >> r.o",
            "echo x > /dev/kiln-dev && echo WROTE-DEV >> r.o",
            "echo shm > /dev/shm/kiln && echo WROTE-SHM >> r.o",
            "busybox grep Seccomp: /proc/self/status >> r.o",
            "busybox sleep 1",
        ].joined(separator: "; ")
        let job = Task { try await fixture.sandbox.run(try fixture.jobs.job(script, outputs: ["r.o"])) }
        var hostUIDs: [String] = []
        for _ in 0..<100 where hostUIDs.isEmpty {
            try await Task.sleep(for: .milliseconds(30))
            hostUIDs = Self.processes(holding: marker).compactMap { pid in
                (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("Uid:") }
                    .map(String.init)
            }
        }
        let report = try #require(try fixture.jobs.output(try await job.value, "r.o"))
        #expect(!hostUIDs.isEmpty, "the job's process was seen on the host")
        #expect(hostUIDs.allSatisfy { !$0.split(whereSeparator: \.isWhitespace).dropFirst().contains("0") }, "never uid 0 on the host: \(hostUIDs)")
        for breach in ["NESTED-NET", "NESTED-USER", "NESTED-MOUNT", "WROTE-DEV"] { #expect(!report.contains(breach), "\(report)") }
        #expect(report.contains("WROTE-SHM"), "/dev/shm stays usable: \(report)")
        #expect(report.contains("Seccomp:\t2"), "the syscall filter is on: \(report)")
        try await fixture.expectServesOn()
    }

    @Test(arguments: [false, true]) func outputsPastTheTotalAreRefused(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let outcome = try await fixture.outcome(
            "busybox dd if=/dev/zero of=a.o bs=1K count=700 && busybox dd if=/dev/zero of=b.o bs=1K count=700", outputs: ["a.o", "b.o"])
        guard case .failure(let error) = outcome else {
            Issue.record("1.4 MB of outputs came back past a 1 MB total")
            return
        }
        #expect(error.code == .unsafeOutput)
        try await fixture.expectServesOn()
    }

    @Test(arguments: [false, true]) func aCancelledJobIsKilledAndCleaned(rootless: Bool) async throws {
        let fixture = try await Fixture(rootless: rootless)
        let marker = "kiln-cancel-\(UUID().uuidString.prefix(8))"
        let job = try fixture.jobs.job("busybox sleep 1000 # \(marker)")
        let running = Task { try await fixture.sandbox.run(job) }
        for _ in 0..<100 where Self.processes(holding: marker).isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!Self.processes(holding: marker).isEmpty, "the job started")
        running.cancel()
        await #expect(throws: (any Error).self) { try await running.value }
        #expect(Self.processes(holding: marker).isEmpty)
        try await fixture.expectServesOn()
    }
}
