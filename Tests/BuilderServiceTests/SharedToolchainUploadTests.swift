import HTTPTypes
import HummingbirdTesting
import KilnProtocol
import Synchronization
import Testing
import ToolchainStore

@testable import BuilderService

/// Cold clients starting together: a job assigned while another client uploads its toolchain is not asked for
/// it, and its run_job waits for that upload instead.
@Suite struct SharedToolchainUploadTests {
    @Test(.timeLimit(.minutes(1))) func aJobAssignedDuringAnUploadWaitsForItInsteadOfSendingItAgain() async throws {
        let harness = try await BuilderHarness()
        let archives = harness.server.archives
        let id = BuilderHarness.toolchain.archiveID
        try await harness.test { client in
            #expect(try await harness.assign(client, JobID(51)) == AssignJobResult(state: .pending, needToolchain: true))
            // Job 51's client is sending the archive (submit_toolchain begins the upload so).
            let upload = try await archives.beginUpload(of: id)
            #expect(try await harness.assign(client, JobID(52)) == AssignJobResult(state: .ready, needToolchain: false))
            async let run = harness.run(client, JobID(52))
            while await archives.buildsAwaitingUploads < 1 { try await Task.sleep(for: .milliseconds(1)) }
            BuilderHarness.toolchainBytes.withUnsafeBytes { upload.write($0) }
            try await archives.commit(try upload.finish(), as: id)
            await archives.uploadEnded(id)
            let (status, result) = try await run
            #expect(status == .ok)
            guard case .complete(let complete)? = result else {
                Issue.record("run_job answered \(String(describing: result))")
                return
            }
            #expect(complete.outputs.map(\.path) == ["main.o"])
        }
        #expect(harness.scheduler.states(of: JobID(52)) == [.started, .complete])
    }

    /// The upload failed: the job that waited for it is answered so that its client compiles locally.
    @Test(.timeLimit(.minutes(1))) func aJobWhoseAwaitedUploadFailsFallsBackToALocalCompile() async throws {
        let harness = try await BuilderHarness()
        let archives = harness.server.archives
        let id = BuilderHarness.toolchain.archiveID
        try await harness.test { client in
            _ = try await harness.assign(client, JobID(53))
            let upload = try await archives.beginUpload(of: id)
            _ = try await harness.assign(client, JobID(54))
            async let run = harness.run(client, JobID(54))
            while await archives.buildsAwaitingUploads < 1 { try await Task.sleep(for: .milliseconds(1)) }
            _ = upload
            await archives.uploadEnded(id)  // the client went away mid-upload
            let (status, _) = try await run
            #expect(status == .internalServerError, "a 5xx: sccache's client compiles locally")
        }
        #expect(harness.sandbox.jobs.withLock { $0.isEmpty })
    }
}
