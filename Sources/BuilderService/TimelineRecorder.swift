import BuilderCore
import Synchronization

/// One run_job's ``JobTimeline``, filled from the request's task and from the sandbox's callbacks.
final class TimelineRecorder: Sendable {
    private let timeline = Mutex(JobTimeline<ContinuousClock>(start: .now))

    var value: JobTimeline<ContinuousClock> { timeline.withLock { $0 } }

    func record(_ phase: JobTimeline<ContinuousClock>.Phase, from begin: ContinuousClock.Instant, to end: ContinuousClock.Instant = .now) {
        timeline.withLock { $0.record(phase, from: begin, to: end) }
    }

    /// Runs `body` as `phase` (recorded whether it returns or throws).
    func measure<T>(_ phase: JobTimeline<ContinuousClock>.Phase, _ body: () async throws -> T) async rethrows -> T {
        let begin = ContinuousClock.now
        defer { record(phase, from: begin) }
        return try await body()
    }

    func measure<T>(_ phase: JobTimeline<ContinuousClock>.Phase, _ body: () throws -> T) rethrows -> T {
        let begin = ContinuousClock.now
        defer { record(phase, from: begin) }
        return try body()
    }
}
