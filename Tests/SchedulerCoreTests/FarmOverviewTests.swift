import KilnProtocol
import KilnTestSupport
import SchedulerCore
import Testing

/// What the status page shows, read off the state machine under a manual clock.
@Suite struct FarmOverviewTests {
    typealias Machine = SchedulerStateMachine<ManualClock>
    typealias Fixture = SchedulerStateMachineTests
    let clock = ManualClock()

    @Test func serversSlotsToolchainsAndJobStates() {
        var machine = Machine()
        machine.heartbeat(from: Fixture.server(1), Fixture.heartbeat(cpus: 2), now: clock.now)
        machine.heartbeat(from: Fixture.server(2), Fixture.heartbeat(cpus: 8), now: clock.now)
        clock.advance(by: .seconds(3))
        let first = machine.allocate(jobID: JobID(1), toolchain: "tc-a", now: clock.now)
        machine.assignSucceeded(job: JobID(1), result: AssignJobResult(state: .ready, needToolchain: false), now: clock.now)
        _ = machine.allocate(jobID: JobID(2), toolchain: "tc-b", kind: .remoteAction, now: clock.now)  // assign_job still in flight
        let overview = machine.overview(now: clock.now)

        #expect(overview.servers.map(\.id) == ["127.0.0.1:1", "127.0.0.1:2"], "sorted by id")
        #expect(overview.servers.map(\.slots) == [3, 10])
        #expect(overview.slotsTotal == 13 && overview.slotsBusy == 2)
        #expect(overview.jobsByState == ["ready": 1, "assigning": 1])
        #expect(overview.jobsInFlight == 2)
        #expect(overview.jobsByKind == ["sccache": 1, "reapi": 1], "both kinds share the slots and are told apart")
        #expect(overview.servers.map(\.remoteActions).reduce(0, +) == 1)
        #expect(overview.servers.map(\.jobs).reduce(0, +) == 2)
        let holder = overview.servers.first { $0.id == Fixture.assignedServer(first).map { "\($0)" } }
        #expect(holder?.toolchains == ["tc-a"], "a server that did not need the upload holds the toolchain")
        #expect(overview.toolchains == 1)
        #expect(overview.servers.allSatisfy { $0.secondsSinceHeartbeat == 3 && !$0.quarantined && !$0.draining })
    }

    @Test func drainingQuarantinedAndDroppedJobsShow() {
        var machine = Machine()
        machine.heartbeat(from: Fixture.server(1), Fixture.heartbeat(cpus: 2), now: clock.now)
        machine.heartbeat(from: Fixture.server(2), Fixture.heartbeat(cpus: 2), now: clock.now)
        let decision = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        machine.assignFailed(job: JobID(1), now: clock.now)
        let failed = Fixture.assignedServer(decision)!
        let other = failed == Fixture.server(1) ? Fixture.server(2) : Fixture.server(1)
        machine.heartbeat(from: other, Fixture.heartbeat(cpus: 0), now: clock.now)
        let overview = machine.overview(now: clock.now)
        #expect(overview.servers.first { $0.id == "\(failed)" }?.quarantined == true)
        #expect(overview.servers.first { $0.id == "\(other)" }?.draining == true)
        #expect(overview.slotsTotal == 3, "a draining server offers no slots")

        #expect(machine.droppedJobCount == 0, "a failed assignment is not a dropped job")
        machine.heartbeat(from: failed, Fixture.heartbeat(cpus: 2), now: clock.now)
        _ = machine.allocate(jobID: JobID(2), toolchain: "t", now: clock.now)
        machine.heartbeat(from: failed, Fixture.heartbeat(cpus: 2, nonce: 7), now: clock.now)
        #expect(machine.droppedJobCount == 1, "a restart drops the server's jobs")
        _ = machine.allocate(jobID: JobID(3), toolchain: "t", now: clock.now)
        machine.assignSucceeded(job: JobID(3), result: AssignJobResult(state: .pending, needToolchain: true), now: clock.now)
        // Heartbeats keep the server alive while the job waits past its expiry.
        for _ in 0..<6 {
            clock.advance(by: .seconds(60))
            machine.heartbeat(from: failed, Fixture.heartbeat(cpus: 2, nonce: 7), now: clock.now)
        }
        #expect(machine.droppedJobCount == 2, "a job never started in time is dropped")
    }

    @Test func updateJobStateTellsTheJobsAge() throws {
        var machine = Machine()
        machine.heartbeat(from: Fixture.server(1), Fixture.heartbeat(), now: clock.now)
        _ = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        machine.assignSucceeded(job: JobID(1), result: AssignJobResult(state: .ready, needToolchain: false), now: clock.now)
        clock.advance(by: .seconds(2))
        #expect(try machine.updateJobState(job: JobID(1), to: .started, from: Fixture.server(1), now: clock.now) == .seconds(2))
        clock.advance(by: .seconds(5))
        #expect(try machine.updateJobState(job: JobID(1), to: .complete, from: Fixture.server(1), now: clock.now) == .seconds(7))
    }
}
