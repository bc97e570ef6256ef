import KilnProtocol
import Testing

@testable import SchedulerService

@Suite struct FarmJobFailureTests {
    static let server = ServerID("127.0.0.1:10501")!

    /// A builder names the sandbox's error only when the job caused it; that decides whether running the action
    /// again can help.
    @Test func aBuildersAnswerSaysWhoseFaultTheFailureIs() {
        let timedOut = FarmJobs.failure(
            status: 500, body: Array(#"{"description":"run build failed: timedOut: the job ran past its 5 s timeout","cause":null}"#.utf8),
            of: "run_job",
            on: Self.server)
        #expect(timedOut.code == .timedOut)
        #expect(timedOut.message.contains("past its 5 s timeout"))
        let unsafe = FarmJobs.failure(
            status: 500,
            body: Array(#"{"description":"run build failed: unsafeOutput: output 'x' is a symlink","cause":null}"#.utf8),
            of: "run_job", on: Self.server)
        #expect(unsafe.code == .refused)
        let platform = FarmJobs.failure(
            status: 500,
            body: Array(#"{"description":"run build failed: unsupportedPlatform: the action asks for container-image gcc:12","cause":null}"#.utf8),
            of: "run_job", on: Self.server)
        #expect(platform.code == .unsupportedPlatform, "another builder may take it")
        #expect(
            FarmJobs.failure(status: 500, body: Array(#"{"description":"run build failed","cause":null}"#.utf8), of: "run_job", on: Self.server).code
                == .builderFailed)
        #expect(FarmJobs.failure(status: 502, body: Array("<html>bad gateway</html>".utf8), of: "run_job", on: Self.server).code == .builderFailed)
    }

    /// Builders that refused a toolchain's platform are skipped for its next jobs, per toolchain, for a while.
    @Test func platformRefusalsAreRememberedForAWhile() {
        let refusals = PlatformRefusals()
        let start = ContinuousClock.now
        let other = ServerID("127.0.0.1:10502")!
        refusals.record(Self.server, refusing: "image-a", now: start)
        refusals.record(other, refusing: "image-a", now: start + .seconds(300))
        #expect(refusals.servers(refusing: "image-a", now: start + .seconds(1)) == [Self.server, other])
        #expect(refusals.servers(refusing: "image-b", now: start + .seconds(1)).isEmpty)
        #expect(refusals.servers(refusing: "image-a", now: start + PlatformRefusals.memory + .seconds(1)) == [other], "forgotten after a while")
        #expect(refusals.servers(refusing: "image-a", now: start + .seconds(2000)).isEmpty)
    }
}
