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
        #expect(
            FarmJobs.failure(status: 500, body: Array(#"{"description":"run build failed","cause":null}"#.utf8), of: "run_job", on: Self.server).code
                == .builderFailed)
        #expect(FarmJobs.failure(status: 502, body: Array("<html>bad gateway</html>".utf8), of: "run_job", on: Self.server).code == .builderFailed)
    }
}
