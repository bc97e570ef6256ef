import DockerEngine
import Foundation
import KilnProtocol
import KilnTestSupport
import Testing
import WireStreams

@testable import Sandboxing

/// The docker sandbox against the real Docker engine (Debian's docker.io, started by scripts/test) and the base
/// image of scripts/docker-base-image.
/// The engine the docker sandbox tests use, and whether they can run here.
enum DockerTestEngine {
    static let engine = DockerEngineClient()

    /// True when the engine answers and the base image exists.
    static func isReady() async -> Bool {
        guard (try? await engine.version()) != nil else { return false }
        return (try? await engine.imageExists("kiln-base:busybox")) == true
    }
}

@Suite(
    .serialized,
    .enabled("needs a Docker engine on /var/run/docker.sock and the image kiln-base:busybox (scripts/test starts one and builds it)") {
        await DockerTestEngine.isReady()
    })
struct DockerSandboxTests {
    static var engine: DockerEngineClient { DockerTestEngine.engine }

    struct Fixture {
        let directory: TemporaryDirectory
        let sandbox: DockerSandbox
        let settings: DockerSandboxSettings
        let jobs: ShellJobs

        func run(
            _ script: String, outputs: [String] = [], inputs: [String: String] = [:], environment: [EnvironmentVariable] = []
        )
            async throws -> JobComplete
        {
            try await sandbox.run(try jobs.job(script, outputs: outputs, inputs: inputs, environment: environment))
        }
    }

    /// Runs `body` with a prepared sandbox of its own instance, then removes its containers and images.
    static func withFixture(
        _ test: String = #function, limits: SandboxLimits = SandboxLimits(), configure: (inout DockerSandboxSettings) -> Void = { _ in },
        _ body: (Fixture) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-docker")
        var settings = DockerSandboxSettings(instance: "kiln-test-\(UUID().uuidString.prefix(8).lowercased())")
        settings.spareContainersPerToolchain = 0  // one container serves a test's jobs in a row, unless it says otherwise
        configure(&settings)
        let sandbox = DockerSandbox(settings: settings, toolchainBudget: 1 << 30, limits: limits)
        let jobs = try ShellJobs(in: directory)
        try await sandbox.prepare()
        let fixture = Fixture(directory: directory, sandbox: sandbox, settings: settings, jobs: jobs)
        do {
            try await body(fixture)
        } catch {
            await cleanUp(fixture)
            throw error
        }
        await cleanUp(fixture)
    }

    static func cleanUp(_ fixture: Fixture) async {
        await fixture.sandbox.shutdown()
        let label = (DockerSandboxSettings.instanceLabel, fixture.settings.instance)
        for container in (try? await engine.containers(labeled: label.0, label.1)) ?? [] { try? await engine.removeContainer(container) }
        for image in (try? await engine.images(labeled: label.0, label.1)) ?? [] { try? await engine.removeImage(image) }
    }

    @Test func runsTheCommandAsAnUnprivilegedUserAndReturnsDeclaredOutputs() async throws {
        try await Self.withFixture { fixture in
            let result = try await fixture.run(
                "mkdir -p out && cat in.txt /etc/toolchain-marker > out/a.txt && echo to-stderr >&2 && echo to-stdout && exit 3",
                outputs: ["out/a.txt", "/work/job/out/missing.o"], inputs: ["work/job/in.txt": "input bytes\n"])
            #expect(result.output.code == 3, "a compiler's exit code is a result")
            #expect(String(decoding: result.output.stdout, as: UTF8.self) == "to-stdout\n")
            #expect(String(decoding: result.output.stderr, as: UTF8.self) == "to-stderr\n")
            #expect(try fixture.jobs.output(result, "out/a.txt") == "input bytes\ntoolchain \n")
            #expect(result.outputs.count == 1, "missing outputs are left out")
        }
    }

    @Test func passesTheJobEnvironmentOnlyAndSkipsKeysWithEquals() async throws {
        try await Self.withFixture { fixture in
            let result = try await fixture.run(
                "env > env.txt", outputs: ["env.txt"],
                environment: [EnvironmentVariable("KILN_JOB", "value with spaces"), EnvironmentVariable("BAD=KEY", "x")])
            let environment = try #require(try fixture.jobs.output(result, "env.txt"))
            #expect(environment.contains("KILN_JOB=value with spaces"))
            #expect(!environment.contains("BAD"), "keys containing '=' are skipped")
        }
    }

    @Test func noHostFilesNoNetworkNoRootNoCapabilities() async throws {
        let listener = try LoopbackListener()
        try await Self.withFixture { fixture in
            let secret = try fixture.directory.write("host-secret.txt", Array("do not read".utf8))
            let script = """
                cat \(secret) > stolen.txt 2>&1; ls /sys/class/net > net.txt; cat /proc/self/status > status.txt
                /.kiln/busybox nc -w 2 127.0.0.1 \(listener.port) </dev/null > nc.txt 2>&1; echo "loopback $?" >> nc.txt
                /.kiln/busybox nc -w 2 172.17.0.1 \(listener.port) </dev/null >> nc.txt 2>&1; echo "bridge $?" >> nc.txt
                """
            let result = try await fixture.run(script, outputs: ["stolen.txt", "net.txt", "status.txt", "nc.txt"])
            #expect(try fixture.jobs.output(result, "stolen.txt")?.contains("do not read") == false, "host files are not in the container")
            #expect(try fixture.jobs.output(result, "net.txt") == "lo\n", "only a loopback interface")
            let status = try #require(try fixture.jobs.output(result, "status.txt"))
            #expect(status.contains("Uid:\t65532\t65532\t65532\t65532"), "runs as the unprivileged uid: \(status)")
            #expect(status.contains("CapEff:\t0000000000000000"), "no capabilities")
            #expect(status.contains("NoNewPrivs:\t1"))
            let network = try #require(try fixture.jobs.output(result, "nc.txt"))
            #expect(!network.contains("loopback 0") && !network.contains("bridge 0"), "\(network)")
        }
        #expect(listener.acceptedConnections() == 0, "no connection reached the host")
    }

    @Test func limitsFromTheSettingsAreInForce() async throws {
        try await Self.withFixture(configure: {
            $0.pidsLimit = 64; $0.memoryBytes = 256 << 20
        }) { fixture in
            let result = try await fixture.run(
                "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes > limits.txt 2>&1 || cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max > limits.txt",
                outputs: ["limits.txt"])
            #expect(try fixture.jobs.output(result, "limits.txt") == "64\n\(256 << 20)\n")
        }
    }

    @Test(arguments: [
        ("ln -s /etc/passwd out.o", "out.o"),
        ("ln -s / escape", "escape/etc/passwd"),
        ("mkdir -p d && ln -s ../../../../etc/passwd d/o", "d/o"),
    ])
    func outputsAreNeverReadThroughSymlinks(script: String, output: String) async throws {
        try await Self.withFixture { fixture in
            do {
                let result = try await fixture.run(script, outputs: [output])
                // A symlinked parent resolves inside the container: whatever comes back is the container's file.
                #expect(try fixture.jobs.output(result, output)?.contains("root:x:0:0:root:/root") != true, "never the host's file")
            } catch let error as SandboxError {
                #expect(error.code == .unsafeOutput)
            }
        }
    }

    @Test func outputsClimbingAboveTheRootAreRefused() async throws {
        try await Self.withFixture { fixture in
            await #expect(throws: SandboxError.self) { try await fixture.run("true", outputs: ["../../../etc/passwd"]) }
        }
    }

    @Test func aJobPastItsDeadlineIsKilledAndTheContainerIsReplaced() async throws {
        var limits = SandboxLimits()
        limits.timeout = .seconds(2)
        try await Self.withFixture(limits: limits) { fixture in
            do {
                _ = try await fixture.run("sleep 60")
                Issue.record("the job should have timed out")
            } catch let error as SandboxError {
                #expect(error.code == .timedOut)
            }
            #expect(try await fixture.run("exit 0").output.code == 0, "the sandbox still works after a kill")
        }
    }

    @Test func containersAreResetAndReused() async throws {
        try await Self.withFixture { fixture in
            let first = try await fixture.run(
                "echo one > out.txt; mkdir -p /tmp/d; echo x > /tmp/d/leftover; (sleep 4242 >/dev/null 2>&1 &) ; exit 0",
                outputs: ["out.txt"], inputs: ["work/job/src.c": "int x;\n"])
            #expect(try fixture.jobs.output(first, "out.txt") == "one\n")
            await fixture.sandbox.waitForResets()
            #expect(await fixture.sandbox.idleContainers == [fixture.jobs.toolchain.archiveID: 1])
            let second = try await fixture.run(
                "ls /tmp /work/job > seen.txt 2>&1; for p in /proc/[0-9]*; do cat $p/cmdline; echo; done > procs.txt",
                outputs: ["seen.txt", "procs.txt"])
            let seen = try #require(try fixture.jobs.output(second, "seen.txt"))
            #expect(!seen.contains("leftover") && !seen.contains("src.c") && !seen.contains("out.txt"), "\(seen)")
            #expect(try fixture.jobs.output(second, "procs.txt")?.contains("4242") == false, "no process of the earlier job survives")
            await fixture.sandbox.waitForResets()
            #expect(await fixture.sandbox.idleContainers == [fixture.jobs.toolchain.archiveID: 1], "one container served both jobs")
        }
    }

    @Test func jobsInARowWaitForTheResetInsteadOfStartingNewContainers() async throws {
        try await Self.withFixture { fixture in
            for index in 0..<5 {
                let result = try await fixture.run("echo \(index) > o.txt", outputs: ["o.txt"])
                #expect(try fixture.jobs.output(result, "o.txt") == "\(index)\n")
            }
            await fixture.sandbox.waitForResets()
            #expect(await fixture.sandbox.idleContainers == [fixture.jobs.toolchain.archiveID: 1], "one container served all five jobs")
            #expect(await fixture.sandbox.jobsStartedAhead == 5, "each job ran in the exec started ahead, at the start or after a reset")
            let label = (DockerSandboxSettings.instanceLabel, fixture.settings.instance)
            #expect(try await Self.engine.containers(labeled: label.0, label.1).count == 1)
        }
    }

    @Test func theStubStartedAheadIsRootsAndAJobCannotReplaceIt() async throws {
        try await Self.withFixture { fixture in
            let tamper = try await fixture.run(
                "ls -ln /.kiln/job-stub > owner.txt; echo '#!/bin/sh' > /.kiln/job-stub && exit 0; exit 7", outputs: ["owner.txt"])
            #expect(tamper.output.code == 7, "the job user may not write the stub's program")
            #expect(try fixture.jobs.output(tamper, "owner.txt")?.contains(" 0 ") == true, "owned by root")
            let next = try await fixture.run("echo still > o.txt", outputs: ["o.txt"])
            #expect(try fixture.jobs.output(next, "o.txt") == "still\n")
            #expect(await fixture.sandbox.jobsStartedAhead == 2)
        }
    }

    @Test func aStubThatEndedBeforeItsJobLeavesTheJobToAnExecOfItsOwn() async throws {
        try await Self.withFixture { fixture in
            _ = try await fixture.run("exit 0")
            await fixture.sandbox.waitForResets()
            let label = (DockerSandboxSettings.instanceLabel, fixture.settings.instance)
            let container = try #require(try await Self.engine.containers(labeled: label.0, label.1).first)
            #expect(await fixture.sandbox.stubs.isRunning(in: container))
            let kill = ExecConfig(
                user: "\(fixture.settings.uid):\(fixture.settings.gid)", workingDirectory: "/", environment: [],
                command: [DockerSandboxSettings.busybox, "sh", "-c", "kill -9 -1; exit 0"])
            _ = try await Self.engine.exec(container: container, kill, timeout: 30, streamLimit: 4096)
            let result = try await fixture.run("echo ran > o.txt; echo out; exit 4", outputs: ["o.txt"])
            #expect(result.output.code == 4, "the job's own exit code, not the dead stub's")
            #expect(String(decoding: result.output.stdout, as: UTF8.self) == "out\n")
            #expect(try fixture.jobs.output(result, "o.txt") == "ran\n")
            #expect(await fixture.sandbox.jobsStartedAhead == 1, "the first job only")
            _ = try await fixture.run("exit 0")
            #expect(await fixture.sandbox.jobsStartedAhead == 2, "the reset started a stub again")
        }
    }

    @Test func withASpareJobsInARowAlternateBetweenTwoContainers() async throws {
        try await Self.withFixture(configure: { $0.spareContainersPerToolchain = 1 }) { fixture in
            for index in 0..<5 {
                let result = try await fixture.run("ls /tmp > seen.txt; echo \(index) > /tmp/left-\(index)", outputs: ["seen.txt"])
                #expect(try fixture.jobs.output(result, "seen.txt")?.contains("left-") == false, "job \(index) starts on a clean container")
            }
            await fixture.sandbox.waitForResets()
            #expect(await fixture.sandbox.idleContainers == [fixture.jobs.toolchain.archiveID: 2], "the spare is kept beside the one in use")
            let label = (DockerSandboxSettings.instanceLabel, fixture.settings.instance)
            #expect(try await Self.engine.containers(labeled: label.0, label.1).count == 2, "five jobs, two containers")
        }
    }

    /// Inputs are unpacked through the container's root on the host, which never follows a symlink; where the image
    /// makes a directory of their path a symlink, the engine unpacks them inside the container instead.
    @Test func inputsBelowASymlinkOfTheImageAreResolvedInsideTheContainer() async throws {
        try await Self.withFixture { fixture in
            let jobs = try ShellJobs(in: fixture.directory, scripts: ["real/keep": ""], symlinks: ["inc": "/real"])
            let script = "cat /inc/h.h > out.txt; /bin/busybox stat -c %u src.c >> out.txt"
            let result = try await fixture.sandbox.run(
                try jobs.job(script, outputs: ["out.txt"], inputs: ["inc/h.h": "header\n", "work/job/src.c": ""]))
            #expect(try jobs.output(result, "out.txt") == "header\n\(fixture.settings.uid)\n", "\(result.output)")
            #expect(!FileManager.default.fileExists(atPath: "/real/h.h"), "nothing was written on the host through the image's symlink")
        }
    }

    @Test func prepareRemovesContainersAndImagesLeftByAnEarlierRun() async throws {
        try await Self.withFixture { fixture in
            _ = try await fixture.run("true")
            await fixture.sandbox.waitForResets()
            let label = (DockerSandboxSettings.instanceLabel, fixture.settings.instance)
            #expect(try await Self.engine.containers(labeled: label.0, label.1).count == 1)
            #expect(try await Self.engine.images(labeled: label.0, label.1).count == 1)
            let restarted = DockerSandbox(settings: fixture.settings, toolchainBudget: 1 << 30)
            try await restarted.prepare()
            #expect(try await Self.engine.containers(labeled: label.0, label.1).isEmpty)
            #expect(try await Self.engine.images(labeled: label.0, label.1).isEmpty)
        }
    }

    @Test func aResetThatFindsDeletedOrTooManyPathsGivesUpTheContainer() {
        #expect(DockerContainerReset.plan(for: [FilesystemChange(path: "/usr/bin/gcc", kind: .deleted)]) == nil)
        let plan = DockerContainerReset.plan(for: [
            FilesystemChange(path: "/tmp", kind: .modified), FilesystemChange(path: "/work", kind: .added),
            FilesystemChange(path: "/work/job", kind: .added), FilesystemChange(path: "/tmp/x", kind: .added),
        ])
        #expect(plan?.removals == ["/tmp/x", "/work"])
        #expect(plan?.directoriesToCheck == ["/tmp"])
        let many = (0...DockerContainerReset.maxRemovedPaths).map { FilesystemChange(path: "/tmp/f\($0)", kind: .added) }
        #expect(DockerContainerReset.plan(for: many) == nil)
    }
}
