import BuilderCore
import KilnProtocol
import Testing

/// Compiles that failed for want of resources are told from compile errors by what they printed and how they ended.
@Suite struct ResourceFailureTests {
    static func output(_ code: Int32, stderr: String = "", stdout: String = "") -> ProcessOutput {
        ProcessOutput(code: code, stdout: Array(stdout.utf8), stderr: Array(stderr.utf8))
    }

    @Test(arguments: [
        "cc1: out of memory allocating 65536 bytes after a total of 1 bytes",
        "virtual memory exhausted: Cannot allocate memory",
        "main.c:1: fatal error: error writing to /tmp/ccX.s: No space left on device",
        "gcc: fatal error: cannot execute 'cc1': vfork: Resource temporarily unavailable",
        "gcc: fatal error: Killed signal terminated program cc1",
        "memory allocation of 1048576 bytes failed",
    ])
    func whatTheToolsPrintWhenResourcesRunOutIsNoResult(stderr: String) {
        #expect(ResourceFailure.reason(in: Self.output(1, stderr: stderr)) != nil)
    }

    @Test func aKillOrAFileSizeSignalIsNoResult() {
        #expect(ResourceFailure.reason(in: Self.output(137)) != nil)
        #expect(ResourceFailure.reason(in: Self.output(153)) != nil)
    }

    @Test func compileErrorsAndSuccessesAreResults() {
        #expect(ResourceFailure.reason(in: Self.output(1, stderr: "main.c:3:5: error: expected ';' before '}' token")) == nil)
        #expect(ResourceFailure.reason(in: Self.output(0, stderr: "warning: out of memory is only a warning here")) == nil)
        #expect(ResourceFailure.reason(in: Self.output(2, stdout: "make: *** [all] Error 2")) == nil)
    }
}
