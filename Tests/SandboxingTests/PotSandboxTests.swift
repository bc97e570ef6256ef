import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

@testable import Sandboxing

/// The pot sandbox against the fake `pot` and `jexec` of Tests/PotFakes (FreeBSD cannot run here): the exact
/// command sequences of first use, reuse, a failed revert and start-up cleanup, and real jobs run in the fake
/// jails through bubblewrap.
@Suite(.serialized, .enabled(if: FakePot.missingPrerequisite == nil, Comment(rawValue: FakePot.missingPrerequisite ?? "")))
struct PotSandboxTests {
    struct Fixture {
        let directory: TemporaryDirectory
        let fake: FakePot
        let sandbox: PotSandbox
        let jobs: ShellJobs
        var image: String { "kiln-image-\(jobs.toolchain.archiveID)" }

        func run(_ script: String, outputs: [String] = [], inputs: [String: String] = [:]) async throws -> JobComplete {
            try await sandbox.run(try jobs.job(script, outputs: outputs, inputs: inputs))
        }

        /// The calls since the last look, and forgets them.
        func takeCalls() -> [[String]] {
            defer { fake.clearCalls() }
            return fake.calls()
        }
    }

    static func withFixture(
        _ test: String = #function, limits: SandboxLimits = SandboxLimits(), template: Bool = true, prepare: Bool = true,
        _ body: (Fixture) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-pot")
        let fake = try FakePot(in: directory.path)
        if template { try fake.createTemplate() }
        var settings = PotSandboxSettings()
        (settings.fsRoot, settings.potCommand, settings.jexecCommand) = (fake.root, fake.potCommand, fake.jexecCommand)
        settings.rctlCommand = fake.rctlCommand
        let sandbox = PotSandbox(settings: settings, toolchainBudget: 1 << 30, limits: limits)
        if prepare { try await sandbox.prepare() }
        let fixture = Fixture(directory: directory, fake: fake, sandbox: sandbox, jobs: try ShellJobs(in: directory))
        fixture.fake.clearCalls()
        try await body(fixture)
        await sandbox.shutdown()
    }

    /// The container name of the first `pot clone -p kiln-builder-…` in `calls`.
    static func container(in calls: [[String]]) throws -> String {
        let name = try #require(calls.first { $0.starts(with: ["pot", "clone", "-p"]) && $0[3].hasPrefix("kiln-builder-") }?[3])
        #expect(name.wholeMatch(of: /kiln-builder-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/) != nil, "a uuid name: \(name)")
        return name
    }

    static let clone = ["-i", "lo0|127.0.0.2"]

    /// The compile as the jail user, with the default limits' file size (8 GiB: 16,777,216 blocks).
    static func compile(_ container: String, _ script: String) -> [String] {
        [
            "jexec", "-U", "nobody", container, "/usr/bin/env", "-i", "PATH=/bin:/usr/bin", "/bin/sh", "-c",
            #"ulimit -c 0 && ulimit -f 16777216 && cd "$1" && shift && exec "$@""#, "/bin/sh", "/work/job", "/bin/sh", "-c", script,
        ]
    }

    /// The rctl rules of the default limits (memory 4 GiB, 1024 processes), added before the jail first starts.
    static func rules(_ container: String) -> [[String]] {
        [["rctl", "-a", "jail:\(container):memoryuse:deny=4294967296"], ["rctl", "-a", "jail:\(container):maxproc:deny=1024"]]
    }

    static func reset(_ container: String) -> [[String]] {
        [["pot", "stop", "-p", container], ["pot", "revert", "-p", container], ["pot", "start", "-p", container]]
    }

    @Test func firstUseClonesAnImageAndAContainerRunsTheJobThenResets() async throws {
        try await Self.withFixture { fixture in
            let script = "cat in.txt /etc/toolchain-marker > out.txt; echo err >&2; echo leftover > /tmp/left; exit 3"
            let result = try await fixture.run(script, outputs: ["out.txt", "missing.o"], inputs: ["work/job/in.txt": "input\n"])
            #expect(result.output.code == 3, "a compiler's exit code is a result")
            #expect(String(decoding: result.output.stderr, as: UTF8.self) == "err\n")
            #expect(try fixture.jobs.output(result, "out.txt") == "input\ntoolchain \n", "inputs and toolchain share the jail root")
            #expect(result.outputs.count == 1, "missing outputs are left out")
            await fixture.sandbox.waitForResets()
            let calls = fixture.takeCalls()
            let container = try Self.container(in: calls)
            let expected: [[String]] =
                [
                    ["pot", "clone", "-p", fixture.image, "-P", "sccache-template"] + Self.clone,
                    ["pot", "snapshot", "-p", fixture.image],
                    ["pot", "clone", "-p", container, "-P", fixture.image] + Self.clone,
                    ["pot", "snapshot", "-p", container],
                ] + Self.rules(container) + [
                    ["pot", "start", "-p", container],
                    Self.compile(container, script),
                ] + Self.reset(container)
            #expect(calls == expected)
            let root = fixture.fake.rootOf(container)
            #expect(!FileManager.default.fileExists(atPath: root + "/tmp/left") && !FileManager.default.fileExists(atPath: root + "/work/job/in.txt"))
            #expect(FileManager.default.fileExists(atPath: root + "/etc/toolchain-marker"), "the revert keeps the toolchain")
            #expect(await fixture.sandbox.idleContainers == [fixture.jobs.toolchain.archiveID: 1])
        }
    }

    @Test func reuseRunsOnlyTheCompileAndTheReset() async throws {
        try await Self.withFixture { fixture in
            _ = try await fixture.run("true")
            await fixture.sandbox.waitForResets()
            let container = try Self.container(in: fixture.takeCalls())
            for index in 0..<3 {
                let result = try await fixture.run("ls /tmp > seen.txt; echo \(index) > /tmp/mine", outputs: ["seen.txt"])
                #expect(try fixture.jobs.output(result, "seen.txt") == "", "nothing of the earlier job is left")
                await fixture.sandbox.waitForResets()
                #expect(fixture.takeCalls() == [Self.compile(container, "ls /tmp > seen.txt; echo \(index) > /tmp/mine")] + Self.reset(container))
            }
        }
    }

    @Test func aFailedRevertDestroysTheContainerAndTheNextJobClonesANewOne() async throws {
        try await Self.withFixture { fixture in
            _ = try await fixture.run("true")
            await fixture.sandbox.waitForResets()
            let first = try Self.container(in: fixture.takeCalls())
            try fixture.fake.injectFault("revert")
            _ = try await fixture.run("true")
            await fixture.sandbox.waitForResets()
            #expect(
                fixture.takeCalls() == [
                    Self.compile(first, "true"), ["pot", "stop", "-p", first], ["pot", "revert", "-p", first], ["pot", "destroy", "-F", "-p", first],
                    ["rctl", "-r", "jail:\(first)"],
                ])
            #expect(!fixture.fake.pots().contains(first))
            fixture.fake.clearFault("revert")
            _ = try await fixture.run("true")
            await fixture.sandbox.waitForResets()
            let calls = fixture.takeCalls()
            let second = try Self.container(in: calls)
            #expect(second != first)
            #expect(
                calls == [
                    ["pot", "clone", "-p", second, "-P", fixture.image] + Self.clone, ["pot", "snapshot", "-p", second],
                ] + Self.rules(second) + [
                    ["pot", "start", "-p", second],
                    Self.compile(second, "true"),
                ] + Self.reset(second), "the image is reused")
        }
    }

    @Test func startUpDestroysKilnsStalePotsContainersFirstAndNothingElse() async throws {
        try await Self.withFixture(prepare: false) { fixture in
            let image = "kiln-image-\(String(repeating: "ab", count: 32))"
            let stale = "kiln-builder-00000000-0000-0000-0000-000000000000"
            for arguments in [
                ["clone", "-p", image, "-P", "sccache-template"] + Self.clone, ["snapshot", "-p", image],
                ["clone", "-p", stale, "-P", image] + Self.clone, ["snapshot", "-p", stale], ["start", "-p", stale],
                ["clone", "-p", "someone-elses", "-P", "sccache-template"] + Self.clone,
            ] {
                try fixture.fake.pot(arguments)
            }
            fixture.fake.clearCalls()
            try await fixture.sandbox.prepare()
            #expect(
                fixture.takeCalls() == [
                    ["rctl"], ["pot", "ls", "-q"], ["pot", "destroy", "-F", "-p", stale], ["rctl", "-r", "jail:\(stale)"],
                    ["pot", "destroy", "-F", "-p", image],
                ])
            #expect(fixture.fake.pots() == ["sccache-template", "someone-elses"])
        }
    }

    @Test func aMissingTemplateIsExplainedAtStart() async throws {
        try await Self.withFixture(template: false, prepare: false) { fixture in
            do {
                try await fixture.sandbox.prepare()
                Issue.record("prepare should fail without the template")
            } catch let error as SandboxError {
                #expect(error.code == .unavailable && error.message.contains("sccache-template") && error.message.contains("deploy/freebsd"))
            }
        }
    }

    @Test func onlyTheJobsEnvironmentReachesTheCompile() async throws {
        try await Self.withFixture { fixture in
            let job = try fixture.jobs.job(
                "env > env.txt", outputs: ["env.txt"],
                environment: [EnvironmentVariable("CFLAGS", "-O2 x"), EnvironmentVariable("A=B", "skipped"), EnvironmentVariable("-u", "skipped")])
            let environment = try #require(try fixture.jobs.output(try await fixture.sandbox.run(job), "env.txt"))
            #expect(environment.contains("CFLAGS=-O2 x\n") && environment.contains("PATH=/bin:/usr/bin\n"))
            #expect(!environment.contains("FAKE_POT_ROOT") && !environment.contains("skipped"), "jexec's own environment stays out: \(environment)")
        }
    }

    @Test(arguments: [
        ("ln -s /etc/passwd out.o", "out.o"),
        ("rm -rf escape && ln -s / escape", "escape/etc/passwd"),
        ("mkdir -p d && ln -s ../../../../etc/passwd d/o", "d/o"),
    ])
    func outputsAreNeverReadThroughSymlinksAndTheSandboxServesOn(script: String, output: String) async throws {
        try await Self.withFixture { fixture in
            await #expect(throws: SandboxError.self) { try await fixture.run(script, outputs: [output]) }
            await #expect(throws: SandboxError.self) { try await fixture.run("true", outputs: ["../../../etc/passwd"]) }
            await fixture.sandbox.waitForResets()
            let after = try await fixture.run("echo ok > o", outputs: ["o"])
            #expect(after.outputs.count == 1, "the sandbox still serves")
        }
    }

    @Test func aJobPastItsDeadlineIsKilledAndTheContainerResetForTheNext() async throws {
        var limits = SandboxLimits()
        limits.timeout = .seconds(2)
        try await Self.withFixture(limits: limits) { fixture in
            do {
                _ = try await fixture.run("sleep 600")
                Issue.record("the job should have timed out")
            } catch let error as SandboxError {
                #expect(error.code == .timedOut)
            }
            await fixture.sandbox.waitForResets()
            let after = try await fixture.run("exit 0")
            #expect(after.output.code == 0, "the sandbox still works after a kill")
        }
    }

    /// Issue 19, hole 10: a job runs as the jail's unprivileged user, in a jail bounded by rctl; where rctl fails
    /// (no RACCT in the kernel) the start-up report says the limits are not enforced and no rule is added.
    @Test func jobsRunAsTheJailUserInJailsBoundedByRctl() async throws {
        try await Self.withFixture { fixture in
            let result = try await fixture.run("busybox id -u > id.o; echo mine > mine.o", outputs: ["id.o", "mine.o"])
            #expect(try fixture.jobs.output(result, "id.o") == "65534\n", "nobody of the jail's /etc/passwd")
            #expect(result.outputs.count == 2, "the job's user may write its cwd")
            #expect(fixture.sandbox.enforcementReport.contains("processes 1024 by rctl rules on each jail"))
            #expect(fixture.sandbox.enforcementReport.contains("'nobody' (jexec -U)"))
            let rules = try String(contentsOfFile: fixture.fake.root + "/rctl.rules", encoding: .utf8)
            #expect(rules.contains(":memoryuse:deny=4294967296") && rules.contains(":maxproc:deny=1024"), "\(rules)")
            let uid = (try fixture.jobs.output(result, "id.o") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let held = uid == "65534" && rules.contains(":maxproc:") && rules.contains(":memoryuse:")
            print(
                "Hostile jobs against the pot builder (recording fakes)\n| case | outcome |\n|---|---|\n"
                    + "| a job as the jail's root, in an unbounded jail | \(held ? "held" : "BREACHED"): uid \(uid), rctl rules "
                    + rules.split(separator: "\n").map { $0.split(separator: ":").dropFirst(2).joined(separator: ":") }.joined(separator: ", ") + " |"
            )
            await fixture.sandbox.shutdown()
            #expect(try String(contentsOfFile: fixture.fake.root + "/rctl.rules", encoding: .utf8).isEmpty, "destroyed jails keep no rule")
        }
        try await Self.withFixture(prepare: false) { fixture in
            try fixture.fake.injectFault("rctl")
            try await fixture.sandbox.prepare()
            #expect(fixture.sandbox.enforcementReport.contains("NOT enforced: rctl failed"))
            _ = try await fixture.run("true")
            #expect(!fixture.takeCalls().contains { $0.first == "rctl" && $0.dropFirst().first == "-a" }, "no rule without RACCT")
        }
    }

    @Test func shutdownDestroysTheIdleContainers() async throws {
        try await Self.withFixture { fixture in
            _ = try await fixture.run("true")
            await fixture.sandbox.shutdown()
            #expect(fixture.fake.pots() == [fixture.image, "sccache-template"], "the next start destroys the image")
        }
    }

    @Test func commandLinesSkipUnusableVariablesAndOrderStalePots() {
        let command = CompileCommand(
            executable: "/usr/bin/cc", arguments: ["-c", "a.c"],
            environment: [
                EnvironmentVariable("", "x"), EnvironmentVariable("K=V", "x"), EnvironmentVariable("-i", "x"), EnvironmentVariable("LANG", "C"),
            ],
            cwd: "/src")
        #expect(
            PotCommandLine.compile(in: "c", command, user: "builder", fileSizeBytes: nil) == [
                "-U", "builder", "c", "/usr/bin/env", "-i", "LANG=C", "/bin/sh", "-c", #"ulimit -c 0 && cd "$1" && shift && exec "$@""#,
                "/usr/bin/cc",
                "/src", "/usr/bin/cc", "-c", "a.c",
            ])
        var limits = SandboxLimits()
        (limits.memoryBytes, limits.maxProcesses, limits.cpus) = (nil, 8, 1.5)
        #expect(PotCommandLine.limitRules(for: "c", limits) == [["-a", "jail:c:maxproc:deny=8"], ["-a", "jail:c:pcpu:deny=150"]])
        #expect(
            PotCommandLine.stalePots(in: "kiln-image-b\nsccache-template\nkiln-builder-z\nkiln-image-a\nkiln-builder-y\n") == [
                "kiln-builder-y", "kiln-builder-z", "kiln-image-a", "kiln-image-b",
            ])
    }
}
