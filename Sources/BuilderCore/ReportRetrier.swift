import Synchronization

/// Reports that must reach the scheduler, retried in the background when the first try fails. sccache-dist
/// sends a job's Complete once: when that one is lost, the scheduler counts the job against this server until
/// the job's lease ends, and the farm has one slot less meanwhile.
///
/// At most ``maxOutstanding`` reports wait at once (a scheduler gone for good must not grow a queue without bound);
/// each is tried after every delay of ``delays`` and given up after the last.
public final class ReportRetrier: Sendable {
    /// What happened to a report handed over for retrying.
    public enum Outcome: Sendable, Equatable {
        /// Delivered on retry `attempt` (1 is the first retry).
        case delivered(attempt: Int)
        /// Every retry failed; the error of the last.
        case gaveUp(lastError: String)
        /// Too many reports waiting already: not retried.
        case shed
    }

    public let delays: [Duration]
    public let maxOutstanding: Int
    private let outstanding = Mutex(0)
    /// What the delays are slept on.
    private let clock: ErasedClock

    /// Retries after 1, 2, 4, 8, 16 and 32 s by default: a minute, enough for a scheduler restart.
    public init(
        delays: [Duration] = [1, 2, 4, 8, 16, 32].map { .seconds($0) }, maxOutstanding: Int = 1024,
        clock: ErasedClock = ErasedClock(ContinuousClock())
    ) {
        self.delays = delays
        self.maxOutstanding = maxOutstanding
        self.clock = clock
    }

    /// Reports waiting for a retry now.
    public var waiting: Int { outstanding.withLock { $0 } }

    /// Tries `report` now. When it throws, retries it in a task of its own and returns false; `finished` hears
    /// how the retries ended.
    @discardableResult
    public func deliver(
        _ report: @escaping @Sendable () async throws -> Void, finished: @escaping @Sendable (Outcome) -> Void = { _ in }
    ) async -> Bool {
        do {
            try await report()
            return true
        } catch {
            retry(report, finished: finished)
            return false
        }
    }

    private func retry(_ report: @escaping @Sendable () async throws -> Void, finished: @escaping @Sendable (Outcome) -> Void) {
        let admitted = outstanding.withLock { count in
            guard count < maxOutstanding else { return false }
            count += 1
            return true
        }
        guard admitted else { return finished(.shed) }
        Task { [self] in
            defer { outstanding.withLock { $0 -= 1 } }
            var lastError = "not tried"
            for (index, delay) in delays.enumerated() {
                try? await clock.sleep(for: delay)
                do {
                    try await report()
                    return finished(.delivered(attempt: index + 1))
                } catch {
                    lastError = "\(error)"
                }
            }
            finished(.gaveUp(lastError: lastError))
        }
    }
}
