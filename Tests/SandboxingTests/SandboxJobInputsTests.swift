import Foundation
import KilnTestSupport
import Testing

@testable import Sandboxing

/// A builder holds a job's small inputs in memory; a sandbox that takes the inputs as a file (docker's rewrite)
/// gets them written to the job's spool path first.
@Suite struct SandboxJobInputsTests {
    @Test func inputsHeldInMemoryAreWrittenForASandboxThatNeedsAFile() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-inputs")
        var job = try ShellJobs(in: directory).job("true", inputs: ["a.c": "int a;"])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: job.inputsTarPath)))
        #expect(try job.inputsFile() == job.inputsTarPath, "already a file: used as it is")
        unlink(job.inputsTarPath)
        job.inputsTar = bytes
        #expect(try job.inputsFile() == job.inputsTarPath)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: job.inputsTarPath))) == bytes)
    }
}
