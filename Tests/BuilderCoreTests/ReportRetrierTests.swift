import BuilderCore
import KilnTestSupport
import Synchronization
import Testing

/// Reports that fail are retried in the background, bounded in count and in attempts.
@Suite struct ReportRetrierTests {
    struct Refused: Error {}

    /// A report that fails its first `failures` tries, counting every try.
    final class FlakyReport: Sendable {
        let failures: Int
        let tries = Mutex(0)
        init(failures: Int) { self.failures = failures }
        func callAsFunction() throws {
            let attempt = tries.withLock { count in
                count += 1
                return count
            }
            if attempt <= failures { throw Refused() }
        }
    }

    /// Delivers `report`, and the outcome of its retries, with the retrier's delays passing on `clock` at once.
    static func outcome(of retrier: ReportRetrier, _ report: FlakyReport, on clock: ManualClock) async -> (firstTry: Bool, ReportRetrier.Outcome) {
        await clock.advancingWhileAsleep(by: .seconds(60)) { await outcome(of: retrier, report) }
    }

    static func outcome(of retrier: ReportRetrier, _ report: FlakyReport) async -> (firstTry: Bool, ReportRetrier.Outcome) {
        await withCheckedContinuation { continuation in
            Task {
                let delivered = await retrier.deliver({ try report() }) { outcome in continuation.resume(returning: (false, outcome)) }
                if delivered { continuation.resume(returning: (true, .delivered(attempt: 0))) }
            }
        }
    }

    @Test func aReportThatGoesThroughIsNotRetried() async {
        let report = FlakyReport(failures: 0)
        let clock = ManualClock()
        let result = await Self.outcome(of: ReportRetrier(delays: [.seconds(1)], clock: ErasedClock(clock)), report, on: clock)
        #expect(result.firstTry)
        #expect(report.tries.withLock { $0 } == 1)
    }

    @Test func aLostReportIsRetriedUntilItGoesThrough() async {
        let report = FlakyReport(failures: 3)
        let clock = ManualClock()
        let retrier = ReportRetrier(delays: Array(repeating: .seconds(1), count: 5), clock: ErasedClock(clock))
        let result = await Self.outcome(of: retrier, report, on: clock)
        #expect(!result.firstTry)
        #expect(result.1 == .delivered(attempt: 3))
        #expect(report.tries.withLock { $0 } == 4)
    }

    @Test func retriesEndAfterTheLastDelay() async {
        let report = FlakyReport(failures: 100)
        let clock = ManualClock()
        let result = await Self.outcome(of: ReportRetrier(delays: [.seconds(1), .seconds(2)], clock: ErasedClock(clock)), report, on: clock)
        #expect(result.1 == .gaveUp(lastError: "Refused()"))
        #expect(report.tries.withLock { $0 } == 3)
    }

    @Test func reportsBeyondTheBoundAreShed() async {
        let retrier = ReportRetrier(delays: [.seconds(30)], maxOutstanding: 2, clock: ErasedClock(ManualClock()))  // never advanced
        let stuck = FlakyReport(failures: 100)
        for _ in 0..<2 { await retrier.deliver({ try stuck() }) }
        #expect(retrier.waiting == 2)
        let result = await Self.outcome(of: retrier, FlakyReport(failures: 100))
        #expect(result.1 == .shed)
    }
}
