import KilnProtocol
import KilnTestSupport
import SchedulerCore
import Testing

/// Issue 20, items 4 and 5: a job that never starts or never completes gives its slot back, and the scheduler's
/// tables stay bounded whatever clients and servers send.
@Suite struct JobReapingTests {
    typealias Machine = SchedulerStateMachine<ManualClock>
    let clock = ManualClock()
    let server = SchedulerStateMachineTests.server(1)

    func machine(_ adjust: (inout SchedulingPolicy) -> Void = { _ in }) -> Machine {
        var policy = SchedulingPolicy()
        adjust(&policy)
        var machine = Machine(policy: policy)
        machine.heartbeat(from: server, SchedulerStateMachineTests.heartbeat(cpus: 2), now: clock.now)
        return machine
    }

    /// Fills the server's three slots with Ready jobs 1...3.
    func fill(_ machine: inout Machine) {
        for id in 1...3 {
            _ = machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t", now: clock.now)
            machine.assignSucceeded(job: JobID(UInt64(id)), result: .forToolchain(cached: true), now: clock.now)
        }
        #expect(SchedulerStateMachineTests.assignedServer(machine.allocate(jobID: JobID(9), toolchain: "t", now: clock.now)) == nil)
    }

    /// Housekeeping `duration` from now keeps the machine's `count` jobs; a millisecond later drops them all.
    func expectExpiry(of machine: inout Machine, in duration: Duration, keeping count: Int) {
        clock.advance(by: duration)
        machine.housekeep(now: clock.now)
        #expect(machine.jobs.count == count, "kept up to the deadline")
        clock.advance(by: .milliseconds(1))
        machine.housekeep(now: clock.now)
        #expect(machine.jobs.isEmpty)
    }

    /// The case from the issue: clients that died between alloc_job and run_job. Before, the farm stayed full.
    @Test func readyJobsWhoseClientDiedFreeTheirSlots() {
        var machine = machine()
        fill(&machine)
        clock.advance(by: .seconds(30))
        machine.heartbeat(from: server, SchedulerStateMachineTests.heartbeat(cpus: 2), now: clock.now)
        clock.advance(by: .seconds(31))
        #expect(SchedulerStateMachineTests.assignedServer(machine.allocate(jobID: JobID(10), toolchain: "t", now: clock.now)) == server)
        #expect(machine.droppedJobCount == 3)
    }

    @Test func unstartedJobTimeoutBoundsEveryJobNotStarted() {
        var machine = machine { $0.unstartedJobTimeout = .seconds(5) }
        _ = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)  // assign_job never answered
        _ = machine.allocate(jobID: JobID(2), toolchain: "t", now: clock.now)
        machine.assignSucceeded(job: JobID(2), result: .forToolchain(cached: false), now: clock.now)  // Pending
        _ = machine.allocate(jobID: JobID(3), toolchain: "t", now: clock.now)
        machine.assignSucceeded(job: JobID(3), result: .forToolchain(cached: true), now: clock.now)  // Ready
        expectExpiry(of: &machine, in: .seconds(5), keeping: 3)
    }

    /// The tables are swept only once their earliest deadline has passed: a change that brings a deadline closer
    /// (a Pending job turning Ready expires after 60 s, not 300 s) must be seen by the next sweep all the same.
    @Test func aDeadlineBroughtCloserIsKeptBetweenSweeps() throws {
        var machine = machine()
        _ = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        machine.assignSucceeded(job: JobID(1), result: .forToolchain(cached: false), now: clock.now)  // Pending: 300 s
        clock.advance(by: .seconds(10))
        machine.housekeep(now: clock.now)
        try machine.updateJobState(job: JobID(1), to: .ready, from: server, now: clock.now)  // Ready: 60 s from alloc_job
        expectExpiry(of: &machine, in: .seconds(50), keeping: 1)
        #expect(machine.droppedJobCount == 1)
    }

    /// A Started job whose Complete was lost holds its slot until its lease ends, counted from Started.
    @Test func aStartedJobWithoutCompleteLosesItsSlotWhenItsLeaseEnds() throws {
        var machine = machine { $0.jobLease = .seconds(100) }
        fill(&machine)
        clock.advance(by: .seconds(50))
        try machine.updateJobState(job: JobID(1), to: .started, from: server, now: clock.now)
        for _ in 0..<10 {  // the server stays alive meanwhile
            clock.advance(by: .seconds(10))
            machine.heartbeat(from: server, SchedulerStateMachineTests.heartbeat(cpus: 2), now: clock.now)
        }
        #expect(machine.jobs[JobID(1)]?.state == .started, "the lease runs from Started, not from alloc_job")
        #expect(machine.jobs.count == 1, "the Ready ones went long before")
        clock.advance(by: .seconds(1))
        machine.heartbeat(from: server, SchedulerStateMachineTests.heartbeat(cpus: 2), now: clock.now)
        #expect(machine.jobs.isEmpty)
        // A report for the reaped job is refused: its token no longer starts or completes anything.
        #expect(throws: JobStateRejection.unknownJob) { try machine.updateJobState(job: JobID(1), to: .complete, from: server, now: clock.now) }
    }

    @Test func theJobTableIsBounded() {
        var machine = machine { $0.maxJobs = 2 }
        machine.heartbeat(from: SchedulerStateMachineTests.server(2), SchedulerStateMachineTests.heartbeat(cpus: 64), now: clock.now)
        for id in 1...2 {
            #expect(SchedulerStateMachineTests.assignedServer(machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t", now: clock.now)) != nil)
        }
        #expect(
            machine.allocate(jobID: JobID(3), toolchain: "t", now: clock.now)
                == .noCapacity(message: "Insufficient capacity: the farm has 2 jobs in flight, the most it keeps"))
    }

    @Test func toolchainsRememberedPerServerAreBounded() throws {
        var machine = machine { $0.maxToolchainsPerServer = 3 }
        for id in 1...5 {
            _ = machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t\(id)", now: clock.now)
            machine.assignSucceeded(job: JobID(UInt64(id)), result: .forToolchain(cached: true), now: clock.now)
            try machine.updateJobState(job: JobID(UInt64(id)), to: .started, from: server, now: clock.now)
            try machine.updateJobState(job: JobID(UInt64(id)), to: .complete, from: server, now: clock.now)
        }
        #expect(machine.servers[server]?.toolchains == ["t3", "t4", "t5"], "the oldest learned are forgotten")
    }
}
