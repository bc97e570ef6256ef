import BuilderCore
import HTTPTypes
import HummingbirdTesting
import KilnProtocol
import KilnTestSupport
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import BuilderService

/// Job slots and the drain, in-process: a held fake sandbox keeps jobs running while the test looks.
@Suite struct SlotsAndDrainTests {
    /// Assigns and uploads for `jobs`, then starts their run_jobs; returns the tasks.
    static func start(_ jobs: [JobID], on harness: BuilderHarness, client: any TestClientProtocol) async throws -> [Task<RunJobResult?, any Error>] {
        for job in jobs {
            try await harness.assignAndSubmit(client, job)
        }
        return jobs.map { job in Task { try await harness.run(client, job).1 } }
    }

    @Test func jobsBeyondTheSlotsWaitTheirTurn() async throws {
        let harness = try await BuilderHarness(slots: 1)
        harness.sandbox.hold.withLock { $0 = true }
        try await harness.test { client in
            let runs = try await Self.start([JobID(1), JobID(2)], on: harness, client: client)
            await harness.sandbox.wait { harness.sandbox.running.withLock { $0 } == 1 }
            for _ in 0..<100_000 where await harness.server.slots.queued < 1 { await Task.yield() }
            #expect(await harness.server.slots.busy == 1)
            #expect(await harness.server.slots.queued == 1, "the second job waits for the only slot")
            #expect(harness.sandbox.running.withLock { $0 } == 1)
            harness.sandbox.release()
            for run in runs {
                guard case .complete? = try await run.value else { Issue.record("a job did not complete"); continue }
            }
            #expect(await harness.server.slots.busy == 0)
            #expect(harness.sandbox.jobs.withLock { $0.count } == 2)
        }
    }

    @Test func aDrainingServerRefusesNewJobsAndReportsNoCPUs() async throws {
        let harness = try await BuilderHarness()
        harness.server.beginDrain()
        try await harness.server.heartbeat()
        #expect(harness.scheduler.heartbeats.withLock { $0 } == [0])
        try await harness.test { client in
            let response = try await harness.post(client, "assign_job", JobID(3), body: try BincodeEncoder().encode(BuilderHarness.toolchain))
            #expect(response.status == .serviceUnavailable)
        }
    }

    /// The drain waits for the running job (no polling: it wakes when the job ends) and then returns; time is
    /// a manual clock, so the grace for assigned jobs passes only when the test says so.
    @Test func theDrainEndsWhenTheLastJobDoes() async throws {
        let harness = try await BuilderHarness()
        let clock = ManualClock()
        harness.sandbox.hold.withLock { $0 = true }
        try await harness.test { client in
            let runs = try await Self.start([JobID(11)], on: harness, client: client)
            _ = try await harness.assign(client, JobID(12))  // assigned, its client never comes
            await harness.sandbox.wait { harness.sandbox.running.withLock { $0 } == 1 }
            let drain = DrainService(server: harness.server, deadline: .seconds(600), clock: clock)
            let finished = ChangeSignal()  // notified once the drain returns
            try await testGracefulShutdown { trigger in
                let drained = Task {
                    try await drain.run()
                    finished.notify()
                }
                trigger.triggerGracefulShutdown()
                await harness.scheduler.wait { harness.scheduler.heartbeats.withLock { $0 } == [0] }
                #expect(harness.server.isDraining)
                #expect(finished.generation == 0, "a job is running")
                harness.sandbox.release()
                guard case .complete? = try await runs[0].value else {
                    Issue.record("the running job did not complete")
                    return
                }
                await clock.sleepers(atLeast: 1)  // waiting out the grace of the assigned job
                #expect(finished.generation == 0, "an assigned job's client may still come")
                clock.advance(by: .seconds(10))
                try await drained.value
            }
        }
        #expect(harness.scheduler.states(of: JobID(11)).last == .complete)
    }
}

/// Heartbeats on the builder's schedule, timed by a manual clock: none before the listener is up, then every
/// 30 s, and 10 s after a failure.
@Suite struct HeartbeatTests {
    @Test func heartbeatsFollowTheirSchedule() async throws {
        let harness = try await BuilderHarness()
        let clock = ManualClock()
        let (listening, listenerUp) = AsyncStream<Void>.makeStream()
        let service = HeartbeatService(server: harness.server, schedule: HeartbeatSchedule(), clock: clock, listening: listening)
        let beating = Task { try await service.run() }
        let scheduler = harness.scheduler
        #expect(scheduler.heartbeatAttempts.withLock { $0 } == 0, "nothing before the listener is up")
        listenerUp.yield()
        await scheduler.wait { scheduler.heartbeats.withLock { $0.count } == 1 }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(29))
        #expect(scheduler.heartbeatAttempts.withLock { $0 } == 1)
        scheduler.failing.withLock { $0 = true }
        clock.advance(by: .seconds(1))
        await scheduler.wait { scheduler.heartbeatAttempts.withLock { $0 } == 2 }
        scheduler.failing.withLock { $0 = false }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(10))  // after a failure the next try is 10 s away, not 30
        await scheduler.wait { scheduler.heartbeats.withLock { $0.count } == 2 }
        #expect(scheduler.heartbeats.withLock { $0 } == [2, 2], "the slots as num_cpus")
        beating.cancel()
        try await beating.value
    }
}
