import Foundation
import KilnProtocol
import KilnTestSupport
import Sandboxing
import Testing
import WireStreams

/// The overlay + bubblewrap sandbox with real bwrap and real overlayfs.
@Suite(
    .serialized,
    .enabled(if: TestToolchain.missingPrerequisite == nil, Comment(rawValue: TestToolchain.missingPrerequisite ?? "")))
struct OverlaySandboxTests {

    struct Fixture {
        let directory: TemporaryDirectory
        let sandbox: OverlaySandbox
        let jobs: ShellJobs
        var buildDirectory: String { directory.path + "/build" }

        /// With `warm`, one job has run: the test's jobs find sandboxes made ahead for the toolchain.
        init(limits: SandboxLimits = SandboxLimits(), warm: Bool = true, jobsBase: String? = nil, rootless: Bool? = nil) async throws {
            directory = try TemporaryDirectory(prefix: "kiln-overlay")
            sandbox = OverlaySandbox(
                buildDirectory: directory.path + "/build", bubblewrapPath: "/usr/bin/bwrap", toolchainBudget: 1 << 30, limits: limits,
                rootless: rootless, jobsBase: jobsBase)
            jobs = try ShellJobs(in: directory)
            try await sandbox.prepare()
            if warm {
                _ = try await sandbox.run(try jobs.job("true", id: 97))
                await sandbox.settle()
            }
        }

        /// The sandboxes made ahead, by directory name.
        var sandboxesAhead: [String] {
            get throws { try FileManager.default.contentsOfDirectory(atPath: sandbox.jobsDirectory).filter { $0.hasPrefix("ahead-") }.sorted() }
        }

        /// Shuts the sandbox down and checks that no job directory or mount stayed behind.
        func finish() async throws {
            await sandbox.shutdown()
            let mounts = mountTable()
            #expect(!mounts.contains(buildDirectory) && !mounts.contains(sandbox.jobsDirectory), "no mount may stay behind")
            if sandbox.jobsDirectory == buildDirectory + "/builds" {
                #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.jobsDirectory).isEmpty)
            } else {
                #expect(!FileManager.default.fileExists(atPath: sandbox.jobsDirectory), "a jobs_dir of its own is not left behind")
            }
        }
    }

    @Test func runsTheCommandInTheMergedRootAndReturnsDeclaredOutputs() async throws {
        let fixture = try await Fixture()
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job(
                "mkdir -p out && cat in.txt /etc/toolchain-marker > out/a.txt && echo to-stderr >&2 && echo to-stdout && exit 3",
                outputs: ["out/a.txt", "/work/job/out/missing.o"], inputs: ["work/job/in.txt": "input bytes\n"]))
        #expect(result.output.code == 3, "a compiler's exit code is a result")
        #expect(String(decoding: result.output.stdout, as: UTF8.self) == "to-stdout\n")
        #expect(String(decoding: result.output.stderr, as: UTF8.self) == "to-stderr\n")
        #expect(try fixture.jobs.output(result, "out/a.txt") == "input bytes\ntoolchain \n")
        #expect(result.outputs.count == 1, "missing outputs are left out")
        try await fixture.finish()
    }

    /// `jobs_dir`: the jobs' layers go to a directory of this builder's own on another filesystem (a tmpfs where
    /// there is one), none to build_dir; builders with other build_dirs share the base without meeting.
    @Test(arguments: [false, true]) func jobsLayersGoToTheJobsDirectory(rootless: Bool) async throws {
        var isDirectory: ObjCBool = false
        let shm = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue
        let base = try TemporaryDirectory(prefix: "kiln-jobs-base", in: shm ? "/dev/shm" : nil)
        let fixture = try await Fixture(jobsBase: base.path, rootless: rootless)
        let jobsDirectory = fixture.sandbox.jobsDirectory
        #expect(jobsDirectory.hasPrefix(base.path + "/kiln-jobs-"))
        let other = OverlaySandbox(
            buildDirectory: fixture.directory.path + "/other", bubblewrapPath: "/usr/bin/bwrap", toolchainBudget: 1 << 30, jobsBase: base.path)
        #expect(other.jobsDirectory != jobsDirectory, "another builder's jobs never share this one's directory")
        #expect(!FileManager.default.fileExists(atPath: fixture.buildDirectory + "/builds"))
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job(
                "cat in.txt > out.txt; cat /proc/self/mountinfo > mounts.txt", outputs: ["out.txt", "mounts.txt"],
                inputs: ["work/job/in.txt": "in memory\n"]))
        #expect(try fixture.jobs.output(result, "out.txt") == "in memory\n")
        let mounts = try #require(try fixture.jobs.output(result, "mounts.txt"))
        #expect(mounts.contains("upperdir=\(jobsDirectory)/"), "the job's upper layer is in jobs_dir: \(mounts)")
        #expect(mounts.contains("volatile"), "an sccache job's overlay never syncs the disk: \(mounts)")
        try await fixture.finish()
    }

    @Test func passesTheJobEnvironmentOnlyAndSkipsKeysWithEquals() async throws {
        let fixture = try await Fixture()
        setenv("KILN_HOST_ONLY", "leak", 1)
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job(
                "env > env.txt", outputs: ["env.txt"],
                environment: [EnvironmentVariable("KILN_JOB", "value with spaces"), EnvironmentVariable("BAD=KEY", "x")]))
        let environment = try #require(try fixture.jobs.output(result, "env.txt"))
        #expect(environment.contains("KILN_JOB=value with spaces"))
        #expect(!environment.contains("BAD"), "keys containing '=' are skipped")
        #expect(!environment.contains("KILN_HOST_ONLY"), "the server's own environment never reaches the job")
        try await fixture.finish()
    }

    @Test func theHostIsInvisibleAndTheNetworkIsGone() async throws {
        let fixture = try await Fixture()
        let secret = try fixture.directory.write("host-secret.txt", Array("do not read".utf8))
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job(
                "cat \(secret) > stolen.txt; ls /sys/class/net > net.txt; cat /proc/self/status > status.txt",
                outputs: ["stolen.txt", "net.txt", "status.txt"]))
        #expect(try fixture.jobs.output(result, "stolen.txt") == "", "host files are not in the sandbox")
        #expect(try fixture.jobs.output(result, "net.txt")?.contains("eth") == false)
        let status = try #require(try fixture.jobs.output(result, "status.txt"))
        #expect(status.contains("CapEff:\t0000000000000000"), "no capabilities: \(status)")
        try await fixture.finish()
    }

    @Test(arguments: [
        ("ln -s /etc/passwd out.o", "out.o"),
        ("rm -rf escape && ln -s / escape", "escape/etc/passwd"),
        ("mkdir -p d && ln -s ../../../../etc/passwd d/o", "d/o"),
    ])
    func outputsAreNeverReadThroughSymlinks(script: String, output: String) async throws {
        let fixture = try await Fixture()
        await #expect(throws: SandboxError.self) { try await fixture.sandbox.run(try fixture.jobs.job(script, outputs: [output])) }
        try await fixture.finish()
    }

    /// curl's makefiles compile `../lib/a.c` from `src` into `../lib/a.o`, and the client names that output
    /// through `src/..`: it comes back under that name. A `..` resolves inside the root, never above it.
    @Test func dotDotInAnOutputResolvesInsideTheRootAndNeverAboveIt() async throws {
        let fixture = try await Fixture()
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job(
                "echo object > ../lib/a.o && echo b > /work/gen/../obj/b.o",
                outputs: ["/work/job/../lib/a.o", "/work/gen/../obj/b.o", "../../etc/toolchain-marker"]))
        #expect(try fixture.jobs.output(result, "/work/job/../lib/a.o") == "object\n", "\(result.output)")
        #expect(try fixture.jobs.output(result, "/work/gen/../obj/b.o") == "b\n", "the directories a path passes through are made")
        #expect(try fixture.jobs.output(result, "../../etc/toolchain-marker") == "toolchain \n", "the root's own file, not the host's")
        await #expect(throws: SandboxError.self) { try await fixture.sandbox.run(try fixture.jobs.job("true", outputs: ["../../../etc/passwd"])) }
        await #expect(throws: SandboxError.self) { try await fixture.sandbox.run(try fixture.jobs.job("true", outputs: ["/../etc/passwd"])) }
        try await fixture.finish()
    }

    @Test func aJobPastItsDeadlineIsKilled() async throws {
        var limits = SandboxLimits()
        limits.timeout = .seconds(1)
        let fixture = try await Fixture(limits: limits)
        do {
            _ = try await fixture.sandbox.run(try fixture.jobs.job("sleep 60 & sleep 60"))
            Issue.record("the job should have timed out")
        } catch let error as SandboxError {
            #expect(error.code == .timedOut)
        }
        #expect(try await fixture.sandbox.run(try fixture.jobs.job("exit 0", id: 2)).output.code == 0, "the sandbox still works after a kill")
        try await fixture.finish()
    }

    @Test func aThousandJobsInARowLeaveNoMountOrDirectoryBehind() async throws {
        let fixture = try await Fixture()
        let job = try fixture.jobs.job("echo ok > o.txt", outputs: ["o.txt"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<3 {
                group.addTask {
                    for index in stride(from: lane, to: 1000, by: 3) {
                        var numbered = job
                        numbered.id = JobID(UInt64(index))
                        let result = try await fixture.sandbox.run(numbered)
                        guard result.outputs.count == 1 else { throw SandboxError(.setup, "job \(index) lost its output") }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await fixture.sandbox.toolchains.unpackedIDs == [fixture.jobs.toolchain.archiveID], "unpacked once")
        try await fixture.finish()
    }

    @Test func prepareDetachesMountsLeftByACrashedRun() async throws {
        let fixture = try await Fixture()  // with sandboxes made ahead, which a new prepare() gives up too
        let stale = fixture.buildDirectory + "/builds/stale"
        for directory in ["lower", "upper", "work", "root"] {
            try FileManager.default.createDirectory(atPath: "\(stale)/\(directory)", withIntermediateDirectories: true)
        }
        let mount = try runCommand(
            "/bin/mount",
            ["-t", "overlay", "overlay", "-o", "lowerdir=\(stale)/lower,upperdir=\(stale)/upper,workdir=\(stale)/work", "\(stale)/root"])
        #expect(mount.status == 0, "\(mount.output)")
        try await fixture.sandbox.prepare()
        #expect(!mountTable().contains(fixture.buildDirectory))
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test func aJobRunsInASandboxMadeAheadAndTheNextOneIsMadeForIt() async throws {
        let fixture = try await Fixture()
        let ready = try fixture.sandboxesAhead
        #expect(!ready.isEmpty, "the warm-up job left sandboxes ready for its toolchain")
        let result = try await fixture.sandbox.run(
            try fixture.jobs.job(
                "pwd > out/where.txt; echo $KILN_JOB >> out/where.txt; cat in.txt >> out/where.txt; exit 4", outputs: ["out/where.txt"],
                inputs: ["work/job/in.txt": "input\n"], environment: [EnvironmentVariable("KILN_JOB", "ahead")]))
        #expect(result.output.code == 4)
        #expect(try fixture.jobs.output(result, "out/where.txt") == "/work/job\nahead\ninput\n")
        await fixture.sandbox.settle()
        let now = try fixture.sandboxesAhead
        #expect(now.count == ready.count, "as many ready as before")
        #expect(Set(ready).subtracting(now).count == 1, "one ready sandbox served the job and is gone: \(ready) -> \(now)")
        try await fixture.finish()
    }

    /// A tree deeper than any path, left by an earlier run, is deleted at the next start.
    @Test func prepareDeletesATreeDeeperThanAnyPath() async throws {
        let fixture = try await Fixture(warm: false)
        try FileManager.default.createDirectory(atPath: fixture.buildDirectory + "/builds/left", withIntermediateDirectories: true)
        try SandboxTreeTests.deepTree(in: fixture.buildDirectory + "/builds/left", depth: 2600)
        try await fixture.sandbox.prepare()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.buildDirectory + "/builds").isEmpty)
        #expect(!fixture.sandbox.enforcementReport.contains("could not delete"), "\(fixture.sandbox.enforcementReport)")
        try await fixture.finish()
    }
}
