import BuilderCore
import KilnTestSupport
import Testing

/// The test clock suspends sleepers until it is advanced past their deadline; an `ErasedClock` follows it.
@Suite struct ManualClockTests {
    @Test func sleepersWakeWhenTimeReachesTheirDeadline() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(10)) }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(9))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
    }

    @Test func aCancelledSleeperThrows() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(10)) }
        await clock.sleepers(atLeast: 1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func anErasedClockReadsAndSleepsOnTheClockItWraps() async throws {
        let clock = ManualClock()
        let erased = ErasedClock(clock)
        let start = erased.now
        clock.advance(by: .seconds(3))
        #expect(start.duration(to: erased.now) == .seconds(3))
        let sleeper = Task { try await erased.sleep(for: .seconds(5)) }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(5))
        try await sleeper.value
        #expect(start.duration(to: erased.now) == .seconds(8))
    }
}
