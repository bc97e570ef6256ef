import ArchiveKit
import HTTPTypes
import HummingbirdTesting
import KilnProtocol
import KilnTestSupport
import Sandboxing
import Synchronization
import Testing
import WireStreams

@testable import BuilderService

/// assign_job → submit_toolchain → run_job through the builder's own endpoints, in-process.
@Suite struct RunJobTests {
    @Test func aJobRunsAndItsStatesAreReported() async throws {
        let harness = try await BuilderHarness()
        let job = JobID(41)
        try await harness.test { client in
            #expect(try await harness.assign(client, job) == AssignJobResult(state: .pending, needToolchain: true))
            #expect(try await harness.submitToolchain(client, job) == .success)
            let (status, result) = try await harness.run(client, job)
            #expect(status == .ok)
            guard case .complete(let complete)? = result else {
                Issue.record("run_job answered \(String(describing: result))")
                return
            }
            #expect(String(decoding: complete.output.stdout, as: UTF8.self) == "ran /usr/bin/cc")
            #expect(complete.outputs.map(\.path) == ["main.o"])
            #expect(try complete.outputs.first?.data.decompressed() == Array("out".utf8))
        }
        #expect(harness.scheduler.states(of: job) == [.ready, .started, .complete])
        let ran = try #require(harness.sandbox.jobs.withLock { $0.first })
        #expect(ran.toolchain == BuilderHarness.toolchain)
        #expect(ran.command.environment.map(\.name) == ["PATH"], "only the allowed environment reaches the compiler")
        // A second job of the same toolchain needs no upload.
        let second = try await harness.test { client in try await harness.assign(client, JobID(42)) }
        #expect(second == AssignJobResult(state: .ready, needToolchain: false))
    }

    @Test(.timeLimit(.minutes(1))) func completeTravelsWhileTheOutputsAreReadAndIsReportedOnce() async throws {
        let harness = try await BuilderHarness()
        let job = JobID(43)
        // The outputs are read only once the scheduler has heard Complete: the report does not wait for them.
        // Only the scheduler is captured: the harness itself would hold itself, and its directory would outlive the test.
        let scheduler = harness.scheduler
        harness.sandbox.afterCompiler.withLock { $0 = { await scheduler.wait { scheduler.states(of: job).contains(.complete) } } }
        try await harness.test { client in
            try await harness.assignAndSubmit(client, job)
            let (status, result) = try await harness.run(client, job)
            #expect(status == .ok && result != .jobNotFound)
        }
        #expect(harness.scheduler.states(of: job) == [.ready, .started, .complete])
    }

    @Test func aBuildThatFailsAfterItsCompilerIsReportedCompleteOnce() async throws {
        struct OutputsUnreadable: Error {}
        let harness = try await BuilderHarness()
        let job = JobID(44)
        harness.sandbox.afterCompiler.withLock { $0 = { throw OutputsUnreadable() } }
        try await harness.test { client in
            try await harness.assignAndSubmit(client, job)
            #expect(try await harness.run(client, job).0 == .internalServerError)
        }
        #expect(harness.scheduler.states(of: job) == [.ready, .started, .complete])
    }

    /// Killed by the memory limit (137): a 500, so the client compiles locally, and the job's slot back once.
    @Test func aCompileThatRanOutOfMemoryGivesItsSlotBackOnce() async throws {
        let harness = try await BuilderHarness()
        harness.sandbox.exitCode.withLock { $0 = 137 }
        try await harness.test { client in
            for job in [JobID(45), JobID(46)] {
                try await harness.assignAndSubmit(client, job)
                #expect(try await harness.run(client, job).0 == .internalServerError)
            }
        }
        #expect(await harness.server.slots.busy == 0, "a slot given back twice would let one job more run than there are slots")
    }

    @Test func aJobRunsOnceAndAnUnknownJobIsNotFound() async throws {
        let harness = try await BuilderHarness()
        try await harness.test { client in
            try await harness.assignAndSubmit(client, JobID(7))
            #expect(try await harness.run(client, JobID(7)).1 != .jobNotFound)
            #expect(try await harness.run(client, JobID(7)).1 == .jobNotFound, "a job id runs once")
            #expect(try await harness.run(client, JobID(8)).1 == .jobNotFound, "never assigned")
        }
        #expect(harness.sandbox.jobs.withLock { $0.count } == 1)
    }

    @Test func aTokenForAnotherJobIsRefused() async throws {
        let harness = try await BuilderHarness()
        try await harness.test { client in
            let response = try await harness.post(
                client, "assign_job", JobID(5), body: try BincodeEncoder().encode(BuilderHarness.toolchain), token: try await harness.token(JobID(6)))
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == "Bearer error=\"invalid_jwt\"")
        }
        #expect(harness.server.toolchain(of: JobID(5)) == nil)
    }

    /// The Started report travels while the sandbox is set up; the compiler waits for it. When it fails, the job
    /// ends before its compiler, with sccache-dist's 500, and no Complete follows.
    @Test func aSchedulerThatRefusesStartedGetsA500AndNoBuild() async throws {
        let harness = try await BuilderHarness()
        harness.scheduler.refusedStates.withLock { $0 = [.started] }
        try await harness.test { client in
            try await harness.assignAndSubmit(client, JobID(9))
            let (status, _) = try await harness.run(client, JobID(9))
            #expect(status == .internalServerError, "the client compiles locally")
        }
        #expect(harness.sandbox.compilersRun.withLock { $0 } == 0, "the compiler never started")
        #expect(harness.scheduler.states(of: JobID(9)) == [.ready], "no Complete after a failed Started")
    }

    /// A job assigned and never run is forgotten after ten minutes of the server's clock (its client compiled
    /// locally), so the table cannot grow without bound; a fresh one still runs.
    @Test func anAssignedJobNobodyRunsIsForgottenAfterTenMinutes() async throws {
        let harness = try await BuilderHarness()
        try await harness.test { client in
            try await harness.assignAndSubmit(client, JobID(21))
            harness.clock.advance(by: .seconds(599))
            _ = try await harness.assign(client, JobID(22))
            #expect(harness.server.toolchain(of: JobID(21)) != nil, "not yet ten minutes")
            harness.clock.advance(by: .seconds(2))
            _ = try await harness.assign(client, JobID(23))
            #expect(try await harness.run(client, JobID(21)).1 == .jobNotFound)
            guard case .complete? = try await harness.run(client, JobID(23)).1 else {
                Issue.record("the fresh job did not run")
                return
            }
        }
    }
}
