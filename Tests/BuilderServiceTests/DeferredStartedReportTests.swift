import HTTPTypes
import HummingbirdTesting
import KilnProtocol
import KilnTestSupport
import Synchronization
import Testing

@testable import BuilderService

/// ``DeferredStartedReport`` from the build server's side, against a scheduler that announced it: Started is sent
/// only for a job still running after the deferral, and whichever report first leaves Ready says when the job
/// started. (Against one that did not, every job reports Started first: ``RunJobTests``.)
@Suite struct DeferredStartedReportTests {
    static func deferringHarness() async throws -> BuilderHarness {
        let harness = try await BuilderHarness()
        harness.scheduler.defers.withLock { $0 = true }
        return harness
    }

    @Test func aShortJobGoesFromReadyToCompleteSayingWhenItStarted() async throws {
        let harness = try await Self.deferringHarness()
        let job = JobID(61)
        try await harness.test { client in
            try await harness.assignAndSubmit(client, job)
            let (status, result) = try await harness.run(client, job)
            #expect(status == .ok && result != .jobNotFound)
        }
        #expect(harness.scheduler.states(of: job) == [.ready, .complete])
        #expect(harness.scheduler.startedAgos.withLock { $0.map(\.state) } == [.complete])
        #expect(harness.sandbox.compilersRun.withLock { $0 } == 1)
    }

    /// The compiler did not wait for the report, which went while the job ran, dated back to the run_job.
    @Test(.timeLimit(.minutes(1))) func aJobStillRunningAfterTheDeferralReportsStartedThenComplete() async throws {
        let harness = try await Self.deferringHarness()
        let job = JobID(62)
        harness.sandbox.hold.withLock { $0 = true }
        let scheduler = harness.scheduler
        try await harness.test { client in
            try await harness.assignAndSubmit(client, job)
            async let run = harness.run(client, job)
            await scheduler.wait { scheduler.states(of: job).contains(.started) }
            harness.sandbox.release()
            #expect(try await run.0 == .ok)
        }
        #expect(harness.scheduler.states(of: job) == [.ready, .started, .complete])
        let agos = harness.scheduler.startedAgos.withLock { $0 }
        #expect(agos.map(\.state) == [.started], "Complete follows a Started that said it")
        #expect(agos.allSatisfy { $0.ago >= DeferredStartedReport.deferral }, "sent after the deferral, from the run_job's arrival")
    }

    /// As with sccache-dist, a Started report the scheduler refused ends the job with a 500 and no Complete; the
    /// compiler, which did not wait for it, has run, but its result is not given.
    @Test(.timeLimit(.minutes(1))) func aRefusedDeferredStartedStillGivesA500AndNoComplete() async throws {
        let harness = try await Self.deferringHarness()
        let job = JobID(63)
        harness.sandbox.hold.withLock { $0 = true }
        harness.scheduler.refusedStates.withLock { $0 = [.started] }
        let scheduler = harness.scheduler
        try await harness.test { client in
            try await harness.assignAndSubmit(client, job)
            async let run = harness.run(client, job)
            await scheduler.wait { scheduler.attempted.withLock { $0.contains { $0.job == job && $0.state == .started } } }
            harness.sandbox.release()
            #expect(try await run.0 == .internalServerError, "the client compiles locally")
        }
        #expect(harness.scheduler.states(of: job) == [.ready])
        #expect(harness.scheduler.attempted.withLock { $0.map(\.state) } == [.ready, .started])
    }

    /// A run_job long after its assign_job (the scheduler may have reaped the job meanwhile) reports Started first
    /// and waits for it, so a reaped job's token runs nothing.
    @Test func aLateRunJobReportsStartedFirstAndRunsNothingWhenRefused() async throws {
        let harness = try await Self.deferringHarness()
        harness.scheduler.refusedStates.withLock { $0 = [.started] }
        try await harness.test { client in
            try await harness.assignAndSubmit(client, JobID(65))
            harness.clock.advance(by: DeferredStartedReport.freshness)
            #expect(try await harness.run(client, JobID(65)).0 == .internalServerError)
        }
        #expect(harness.sandbox.compilersRun.withLock { $0 } == 0, "the compiler waited for the report")
        #expect(harness.scheduler.attempted.withLock { $0.map(\.state) } == [.ready, .started])
        #expect(harness.scheduler.startedAgos.withLock { $0.isEmpty }, "a Started report sent at once says nothing more")
    }

    /// A body that does not decode still releases the job on the scheduler: Complete, from Ready.
    @Test func aMalformedBodyIsReportedCompleteFromReady() async throws {
        let harness = try await Self.deferringHarness()
        let job = JobID(64)
        try await harness.test { client in
            try await harness.assignAndSubmit(client, job)
            let response = try await harness.post(client, "run_job", job, body: [0, 0, 0, 9, 1, 2], token: try await harness.token(job))
            #expect(response.status == .badRequest)
        }
        #expect(harness.scheduler.states(of: job) == [.ready, .complete])
        #expect(harness.sandbox.compilersRun.withLock { $0 } == 0)
    }
}
