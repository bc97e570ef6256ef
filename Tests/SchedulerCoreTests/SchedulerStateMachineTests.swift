import KilnProtocol
import KilnTestSupport
import SchedulerCore
import Testing

/// The scheduler's decisions under a manual clock.
@Suite struct SchedulerStateMachineTests {
    typealias Machine = SchedulerStateMachine<ManualClock>
    let clock = ManualClock()

    static func server(_ port: UInt16) -> ServerID { ServerID("127.0.0.1:\(port)")! }

    static func heartbeat(cpus: Int = 2, nonce: UInt64 = 1, digest: UInt8 = 1) -> HeartbeatServerHttpRequest {
        HeartbeatServerHttpRequest(
            jwtKey: [UInt8](repeating: 9, count: 32), numCPUs: cpus, serverNonce: ServerNonce(nonce),
            certDigest: [UInt8](repeating: digest, count: 32), certPEM: Array("PEM\(digest)".utf8))
    }

    static func assignedServer(_ decision: AllocationDecision) -> ServerID? {
        if case .assign(_, let server, _, _, _) = decision { return server }
        return nil
    }

    @Test func heartbeatsRegisterAndRestartsDropJobs() {
        var machine = Machine()
        #expect(machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now).isNew)
        #expect(!machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now).isNew)
        _ = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        let restarted = machine.heartbeat(from: Self.server(1), Self.heartbeat(nonce: 2, digest: 2), now: clock.now)
        #expect(restarted.isNew && restarted.certificateChanged)
        #expect(restarted.droppedJobs == [JobID(1)])
        #expect(machine.jobs.isEmpty)
        #expect(machine.status() == SchedulerStatusResult(numServers: 1, numCPUs: 2, inProgress: 0))
    }

    @Test func loadSpreadsAndTheCapHolds() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 2), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(cpus: 2), now: clock.now)
        var perServer: [ServerID: Int] = [:]
        for id in 0..<6 {
            let decision = machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t", now: clock.now)
            perServer[Self.assignedServer(decision)!, default: 0] += 1
        }
        // cap = 2 + 1 + 0 = 3 each, so six jobs fill both exactly and the seventh finds no room.
        #expect(perServer == [Self.server(1): 3, Self.server(2): 3])
        #expect(
            machine.allocate(jobID: JobID(6), toolchain: "t", now: clock.now)
                == .noCapacity(message: "Insufficient capacity across 2 available servers"))
    }

    @Test func aDrainingServerGetsNoJob() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 2), now: clock.now)
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 0), now: clock.now)
        #expect(
            machine.allocate(jobID: JobID(0), toolchain: "t", now: clock.now)
                == .noCapacity(message: "Insufficient capacity across 1 available servers"))
        #expect(machine.status().numCPUs == 0)
    }

    @Test func noServersMeansFail() {
        var machine = Machine()
        #expect(
            machine.allocate(jobID: JobID(0), toolchain: "t", now: clock.now)
                == .noCapacity(message: "Insufficient capacity across 0 available servers"))
    }

    @Test func toolchainAffinityWinsOverLoad() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 8), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(cpus: 8), now: clock.now)
        // Server 2 learns toolchain "gcc" from an assign_job answer that needed no upload.
        var job: UInt64 = 0
        while Self.assignedServer(machine.allocate(jobID: JobID(job), toolchain: "gcc", now: clock.now)) != Self.server(2) {
            job += 1
        }
        machine.assignSucceeded(job: JobID(job), result: .forToolchain(cached: true), now: clock.now)
        job += 1
        // Now server 2 is the busier one, yet "gcc" jobs still go there while it has room.
        let next = machine.allocate(jobID: JobID(job), toolchain: "gcc", now: clock.now)
        #expect(Self.assignedServer(next) == Self.server(2))
        // A different toolchain goes by load.
        let other = machine.allocate(jobID: JobID(job + 1), toolchain: "clang", now: clock.now)
        #expect(Self.assignedServer(other) == Self.server(1))
    }

    /// A job may name servers it must not go to (they refused its platform): never chosen, even when they hold its
    /// toolchain and have room; with every server excluded the farm has no capacity for it.
    @Test func excludedServersAreNeverChosen() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 8), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(cpus: 8), now: clock.now)
        for job in 0..<6 {
            let decision = machine.allocate(
                jobID: JobID(UInt64(job)), toolchain: "image", kind: .remoteAction, excluding: [Self.server(1)], now: clock.now)
            #expect(Self.assignedServer(decision) == Self.server(2))
            machine.assignSucceeded(job: JobID(UInt64(job)), result: .forToolchain(cached: true), now: clock.now)
        }
        let none = machine.allocate(jobID: JobID(9), toolchain: "image", excluding: [Self.server(1), Self.server(2)], now: clock.now)
        #expect(Self.assignedServer(none) == nil)
        #expect(machine.jobs.values.allSatisfy { $0.kind == .remoteAction })
    }

    @Test func failedServersAreQuarantinedThenForgiven() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now)
        let first = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        let failed = Self.assignedServer(first)!
        machine.assignFailed(job: JobID(1), now: clock.now)
        #expect(machine.jobs.isEmpty)
        for id in 2..<5 {  // the healthy one takes everything it can
            #expect(Self.assignedServer(machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t", now: clock.now)) != failed)
        }
        // Full up, and the failed server has not heartbeated since: it may be dead, so nothing is placed.
        #expect(Self.assignedServer(machine.allocate(jobID: JobID(5), toolchain: "t", now: clock.now)) == nil)
        // Its heartbeat proves it alive: now it is the last resort.
        machine.heartbeat(from: failed, Self.heartbeat(), now: clock.now)
        #expect(Self.assignedServer(machine.allocate(jobID: JobID(6), toolchain: "t", now: clock.now)) == failed)
        clock.advance(by: .seconds(301))
        machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now)
        #expect(machine.servers[failed]?.lastError == nil)
    }

    /// A placement given up by its own caller (a REAPI client that went away) frees the job and leaves the server
    /// in good standing.
    @Test func anAbandonedPlacementDoesNotQuarantineTheServer() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now)
        _ = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        machine.assignAbandoned(job: JobID(1))
        #expect(machine.jobs.isEmpty)
        #expect(machine.servers[Self.server(1)]?.lastError == nil && machine.servers[Self.server(1)]?.unreachable == false)
        #expect(Self.assignedServer(machine.allocate(jobID: JobID(2), toolchain: "t", now: clock.now)) == Self.server(1))
    }

    @Test func silentServersArePrunedOnAllocationAndNeverChosen() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now)
        for _ in 0..<9 {  // server 2 keeps beating every 10 s; server 1 stops
            clock.advance(by: .seconds(10))
            machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now)
        }
        clock.advance(by: .seconds(1))  // 91 s since server 1's last heartbeat
        for id in 0..<3 {
            let decision = machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t", now: clock.now)
            #expect(Self.assignedServer(decision) == Self.server(2))
        }
        #expect(machine.servers[Self.server(1)] == nil)
        #expect(machine.status().numServers == 1)
    }

    @Test func aServerThatMissedAHeartbeatGetsNoJob() {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now)
        clock.advance(by: .seconds(45))
        #expect(Self.assignedServer(machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)) == Self.server(1))
        clock.advance(by: .seconds(1))
        #expect(Self.assignedServer(machine.allocate(jobID: JobID(2), toolchain: "t", now: clock.now)) == nil, "46 s of silence")
        #expect(machine.servers[Self.server(1)] != nil, "still registered: pruned only after 90 s")
        machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now)
        #expect(Self.assignedServer(machine.allocate(jobID: JobID(3), toolchain: "t", now: clock.now)) == Self.server(1))
    }

    @Test func unclaimedJobsExpire() throws {
        var machine = Machine()
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 4), now: clock.now)
        for id in 1...3 { _ = machine.allocate(jobID: JobID(UInt64(id)), toolchain: "t", now: clock.now) }
        machine.assignSucceeded(job: JobID(1), result: .forToolchain(cached: true), now: clock.now)  // Ready
        machine.assignSucceeded(job: JobID(2), result: .forToolchain(cached: false), now: clock.now)  // Pending
        machine.assignSucceeded(job: JobID(3), result: .forToolchain(cached: true), now: clock.now)
        try machine.updateJobState(job: JobID(3), to: .started, from: Self.server(1), now: clock.now)
        clock.advance(by: .seconds(61))
        machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 4), now: clock.now)
        #expect(Set(machine.jobs.keys) == [JobID(2), JobID(3)])
        for _ in 0..<8 {  // 240 s more of healthy heartbeats
            clock.advance(by: .seconds(30))
            machine.heartbeat(from: Self.server(1), Self.heartbeat(cpus: 4), now: clock.now)
        }
        #expect(Set(machine.jobs.keys) == [JobID(3)])  // a started job never expires while its server lives
    }

    /// Issue 20, item 5: the state is bounded. A new server beyond `maxServers` is refused (known ones renew), and
    /// an allocation whose assign_job never answered expires like a Pending job.
    @Test func serversAndUnansweredAllocationsAreBounded() {
        var policy = SchedulingPolicy()
        policy.maxServers = 2
        var machine = Machine(policy: policy)
        #expect(machine.heartbeat(from: Self.server(1), Self.heartbeat(), now: clock.now).isNew)
        #expect(machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now).isNew)
        #expect(machine.heartbeat(from: Self.server(3), Self.heartbeat(), now: clock.now).refused)
        #expect(machine.servers.count == 2)
        #expect(!machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now).refused, "a known server renews")
        #expect(machine.heartbeat(from: Self.server(2), Self.heartbeat(nonce: 7), now: clock.now).isNew, "and may restart")
        _ = machine.allocate(jobID: JobID(1), toolchain: "t", now: clock.now)
        for _ in 0..<11 {  // 330 s of healthy heartbeats: the servers live, the unanswered allocation does not
            clock.advance(by: .seconds(30))
            for port: UInt16 in [1, 2] { machine.heartbeat(from: Self.server(port), Self.heartbeat(nonce: port == 2 ? 7 : 1), now: clock.now) }
            if clock.now.offset < .seconds(300) { #expect(machine.jobs.count == 1) }
        }
        #expect(machine.servers.count == 2)
        #expect(machine.jobs.isEmpty, "an allocation whose assign_job never answered is dropped")
    }

    @Test func jobStateTransitions() throws {
        var machine = Machine()
        let owner = Self.server(1)
        machine.heartbeat(from: owner, Self.heartbeat(), now: clock.now)
        machine.heartbeat(from: Self.server(2), Self.heartbeat(), now: clock.now)
        _ = machine.allocate(jobID: JobID(7), toolchain: "t", now: clock.now)
        let assigned = machine.jobs[JobID(7)]!.server
        let other = assigned == owner ? Self.server(2) : owner
        machine.assignSucceeded(job: JobID(7), result: .forToolchain(cached: false), now: clock.now)
        #expect(throws: JobStateRejection.illegalTransition(from: .pending, to: .started)) {
            try machine.updateJobState(job: JobID(7), to: .started, from: assigned, now: clock.now)
        }
        #expect(throws: JobStateRejection.wrongServer) {
            try machine.updateJobState(job: JobID(7), to: .ready, from: other, now: clock.now)
        }
        #expect(throws: JobStateRejection.unknownJob) {
            try machine.updateJobState(job: JobID(8), to: .ready, from: assigned, now: clock.now)
        }
        try machine.updateJobState(job: JobID(7), to: .ready, from: assigned, now: clock.now)
        #expect(machine.servers[assigned]!.toolchains.contains("t"))
        try machine.updateJobState(job: JobID(7), to: .started, from: assigned, now: clock.now)
        #expect(throws: JobStateRejection.illegalTransition(from: .started, to: .started)) {
            try machine.updateJobState(job: JobID(7), to: .started, from: assigned, now: clock.now)
        }
        try machine.updateJobState(job: JobID(7), to: .complete, from: assigned, now: clock.now)
        #expect(machine.jobs.isEmpty)
        #expect(throws: JobStateRejection.unknownJob) {
            try machine.updateJobState(job: JobID(7), to: .complete, from: assigned, now: clock.now)
        }
    }

    /// ``DeferredStartedReport``: Ready→Complete only with the build server's word on when the job started (as an
    /// sccache-dist server never sends it, its jobs keep upstream's transitions); a deferred Started dates the job's
    /// start back, never before its allocation.
    @Test func aKilnBuildServerMaySkipStartedSayingWhenTheJobStarted() throws {
        var machine = Machine()
        let server = Self.server(1)
        machine.heartbeat(from: server, Self.heartbeat(), now: clock.now)
        for id in [JobID(1), JobID(2), JobID(3)] {
            _ = machine.allocate(jobID: id, toolchain: "t", now: clock.now)
            machine.assignSucceeded(job: id, result: .forToolchain(cached: false), now: clock.now)
            try machine.updateJobState(job: id, to: .ready, from: server, now: clock.now)
        }
        clock.advance(by: .seconds(10))
        #expect(throws: JobStateRejection.illegalTransition(from: .ready, to: .complete)) {
            try machine.updateJobState(job: JobID(1), to: .complete, from: server, now: clock.now)
        }
        #expect(try machine.updateJobState(job: JobID(1), to: .complete, from: server, now: clock.now, startedAgo: .seconds(1)) == .seconds(10))
        #expect(machine.jobs[JobID(1)] == nil)
        try machine.updateJobState(job: JobID(2), to: .started, from: server, now: clock.now, startedAgo: .seconds(4))
        #expect(machine.jobs[JobID(2)]?.started == clock.now.advanced(by: .seconds(-4)))
        try machine.updateJobState(job: JobID(3), to: .started, from: server, now: clock.now, startedAgo: .seconds(60))
        #expect(machine.jobs[JobID(3)]?.started == clock.now.advanced(by: .seconds(-10)), "not before alloc_job")
        try machine.updateJobState(job: JobID(2), to: .complete, from: server, now: clock.now)
        #expect(machine.jobs.keys.sorted() == [JobID(3)])
    }
}
