import Foundation
import JobSpawn
import Testing

/// A process parked ahead of its job: it is in the job's cgroup before the job's command arrives, runs that
/// command as a directly started one would, and leaves nothing behind when discarded.
@Suite struct ParkedProcessTests {
    /// Where a test cgroup can be made: the v1 `pids` hierarchy, else cgroup v2's root; nil without root.
    static let cgroupParent: String? = {
        guard geteuid() == 0 else { return nil }
        return ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"].first { FileManager.default.fileExists(atPath: $0 + "/cgroup.procs") }
    }()

    /// kiln-job-parker, built beside the test binary.
    static func parker() throws -> String { try #require(JobParker.path, "kiln-job-parker is not built beside the tests") }

    /// Runs `body` with a cgroup of its own that is removed afterwards.
    static func withTestCgroup(_ body: (String) async throws -> Void) async throws {
        let cgroup = try #require(cgroupParent) + "/kiln-parked-test-\(getpid())-\(UUID().uuidString.prefix(6))"
        try #require(mkdir(cgroup, 0o755) == 0, "cannot make the test cgroup \(cgroup)")
        defer {
            for _ in 0..<100 where rmdir(cgroup) != 0 { usleep(20_000) }
        }
        try await body(cgroup)
    }

    @Test(.enabled(if: cgroupParent != nil, "needs root and a cgroup hierarchy to make a test cgroup in"))
    func itRunsItsCommandInsideTheCgroupItJoinedAhead() async throws {
        try await Self.withTestCgroup { cgroup in try await Self.runsInside(cgroup) }
    }

    static func runsInside(_ cgroup: String) async throws {
        let parked = try await ParkedProcess.park(cgroupProcsFiles: [cgroup + "/cgroup.procs"], parker: try parker()).get()
        let waiting = try String(contentsOfFile: cgroup + "/cgroup.procs", encoding: .utf8).split(separator: "\n")
        #expect(waiting.count == 1, "the parked process is in the cgroup before any command: \(waiting)")
        let program = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(waiting[0])/exe")
        #expect(program == (try parker() as NSString).resolvingSymlinksInPath, "it waits as the parker, sharing no memory with the server")
        let outcome = await parked.launch(
            JobProcess(
                executable: "/bin/sh", arguments: ["-c", "echo $$; cat /proc/self/cgroup; ulimit -c; echo $KILN"], environment: ["KILN": "yes"],
                limits: [.core(0)]),
            timeout: .seconds(30), maxStreamBytes: 1 << 16)
        let lines = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(outcome.ending == .exited(0))
        #expect(lines.first == String(waiting[0]), "the command runs as the parked process itself")
        #expect(lines.contains { $0.hasSuffix("/" + (cgroup as NSString).lastPathComponent) }, "\(lines)")
        #expect(Array(lines.suffix(2)) == ["0", "yes"])
        let second = await parked.launch(JobProcess(executable: "/bin/true", arguments: []), timeout: .seconds(5), maxStreamBytes: 10)
        #expect(second.ending == .notStarted(stage: "launch", errno: EALREADY), "a parked process runs one command")
    }

    @Test(.enabled(if: cgroupParent != nil, "needs root and a cgroup hierarchy to make a test cgroup in"))
    func aDiscardedOneLeavesNothingBehind() async throws {
        try await Self.withTestCgroup { cgroup in
            let parked = try await ParkedProcess.park(cgroupProcsFiles: [cgroup + "/cgroup.procs"], parker: try Self.parker()).get()
            parked.discard()
            let left = try String(contentsOfFile: cgroup + "/cgroup.procs", encoding: .utf8)
            #expect(left.isEmpty, "the parked process is killed and reaped: \(left)")
        }
    }

    @Test func failuresAreReportedNotThrownAway() async throws {
        let parker = try Self.parker()
        let noParker = await ParkedProcess.park(cgroupProcsFiles: [], parker: "/nonexistent/kiln-job-parker")
        guard case .failure(let failure) = noParker else {
            Issue.record("a parker that does not exist was started")
            return
        }
        #expect(failure.ending == .notStarted(stage: "execve", errno: ENOENT))
        let missing = await ParkedProcess.park(cgroupProcsFiles: ["/nonexistent/cgroup.procs"], parker: parker)
        guard case .failure(let failure) = missing else {
            Issue.record("a cgroup that does not exist was joined")
            return
        }
        #expect(failure.ending == .notStarted(stage: "open /nonexistent/cgroup.procs", errno: ENOENT))
        let parked = try? await ParkedProcess.park(cgroupProcsFiles: [], parker: parker).get()
        let notThere = await parked?.launch(JobProcess(executable: "/nonexistent/cc", arguments: []), timeout: .seconds(5), maxStreamBytes: 10)
        #expect(notThere?.ending == .notStarted(stage: "execve", errno: ENOENT))
        let timedOut = await (try? await ParkedProcess.park(cgroupProcsFiles: [], parker: parker).get())?
            .launch(JobProcess(executable: "/bin/sleep", arguments: ["300"]), timeout: .milliseconds(200), maxStreamBytes: 10)
        #expect(timedOut?.ending == .timedOut)
    }

    static let bubblewrap = "/usr/bin/bwrap"

    /// A sandbox made ready before its job: bubblewrap runs the parker's stub, which takes the job's command.
    static func sandboxAhead(parker: String) async throws -> ParkedProcess {
        let parked = try await ParkedProcess.park(cgroupProcsFiles: [], parker: parker).get()
        let sandbox = JobProcess(
            executable: bubblewrap,
            arguments: [
                // Never the host's whole `/`: a mount namespace holding it would hold every mount other tests
                // make meanwhile (locked, so the host could not delete their mount points).
                "--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-net", "--ro-bind", "/usr", "/usr", "--ro-bind", "/bin", "/bin",
                "--ro-bind", "/lib", "/lib", "--ro-bind", "/lib64", "/lib64", "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "--",
            ] + JobParker.stubCommand, limits: [.core(0)])
        #expect(parked.startSandboxAhead(sandbox))
        return parked
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: bubblewrap), "needs bubblewrap (apt install bubblewrap)"))
    func aSandboxStartedAheadRunsTheJobsCommandWhereItSays() async throws {
        let parked = try await Self.sandboxAhead(parker: try Self.parker())
        let outcome = await parked.launch(
            JobProcess(
                executable: "sh", arguments: ["-c", "pwd; echo $KILN; ulimit -c; ls /proc/self/fd; exit 3"],
                environment: ["KILN": "yes", "PATH": "/usr/bin:/bin"]),
            cwd: "/tmp", timeout: .seconds(30), maxStreamBytes: 1 << 16)
        let lines = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(outcome.ending == .exited(3), "the job's own status: \(outcome)")
        #expect(Array(lines.prefix(3)) == ["/tmp", "yes", "0"], "its cwd, its environment (PATH searched), the rlimits of the sandbox")
        #expect(Array(lines.dropFirst(3)) == ["0", "1", "2", "3"], "only its streams (3 is ls's own): no control socket, no parker")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: bubblewrap), "needs bubblewrap (apt install bubblewrap)"))
    func aSandboxStartedAheadFailsAsBubblewrapWouldAndLeavesNothingWhenDiscarded() async throws {
        let missing = await (try Self.sandboxAhead(parker: try Self.parker()))
            .launch(JobProcess(executable: "/nonexistent/cc", arguments: []), cwd: "/", timeout: .seconds(30), maxStreamBytes: 1 << 16)
        #expect(missing.ending == .exited(1))
        #expect(String(decoding: missing.stderr, as: UTF8.self).contains("execvp /nonexistent/cc"), "\(missing)")
        let noDirectory = await (try Self.sandboxAhead(parker: try Self.parker()))
            .launch(JobProcess(executable: "/bin/true", arguments: []), cwd: "/nonexistent", timeout: .seconds(30), maxStreamBytes: 1 << 16)
        #expect(noDirectory.ending == .exited(1))
        let discarded = try await Self.sandboxAhead(parker: try Self.parker())
        discarded.discard()
        let again = await discarded.launch(JobProcess(executable: "/bin/true", arguments: []), timeout: .seconds(5), maxStreamBytes: 10)
        #expect(again.ending == .notStarted(stage: "launch", errno: EALREADY))
    }
}
