import BuilderCore
import KilnTestSupport
import Testing

@Suite struct DrainProgressTests {
    @Test func waitsForRunningJobsUntilTheDeadline() {
        let clock = ManualClock()
        let drain = DrainProgress<ManualClock>(started: clock.now, deadline: .seconds(60), assignedGrace: .seconds(10))
        #expect(drain.decide(running: 0, assigned: 0, now: clock.now) == .drained, "an idle server exits at once")
        #expect(drain.decide(running: 1, assigned: 0, now: clock.now) == .wait)
        clock.advance(by: .seconds(59))
        #expect(drain.decide(running: 1, assigned: 0, now: clock.now) == .wait)
        clock.advance(by: .seconds(1))
        #expect(drain.decide(running: 1, assigned: 0, now: clock.now) == .deadlinePassed)
    }

    @Test func assignedJobsGetAGraceOnly() {
        let clock = ManualClock()
        let drain = DrainProgress<ManualClock>(started: clock.now, deadline: .seconds(60), assignedGrace: .seconds(10))
        #expect(drain.decide(running: 0, assigned: 2, now: clock.now) == .wait, "their clients may still come")
        clock.advance(by: .seconds(10))
        #expect(drain.decide(running: 0, assigned: 2, now: clock.now) == .drained, "a client that compiled locally never comes")
        #expect(drain.decide(running: 1, assigned: 2, now: clock.now) == .wait, "a running job is always waited for")
    }

    @Test func timeAloneChangesTheDecisionAtTheGraceEndThenAtTheDeadline() {
        let clock = ManualClock()
        let start = clock.now
        let drain = DrainProgress<ManualClock>(started: start, deadline: .seconds(60), assignedGrace: .seconds(10))
        #expect(drain.nextTimeToDecide(after: clock.now) == start.advanced(by: .seconds(10)))
        clock.advance(by: .seconds(10))
        #expect(drain.nextTimeToDecide(after: clock.now) == start.advanced(by: .seconds(60)))
    }
}
