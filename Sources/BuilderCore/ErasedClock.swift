/// Any `Clock<Duration>`, seen as offsets from the moment it was wrapped: one concrete clock type for state that
/// keeps instants (the build server's job table), whichever clock drives it (the continuous clock in the server,
/// a manual one in tests), without a generic parameter on everything that holds that state.
public struct ErasedClock: Clock {
    public struct Instant: InstantProtocol, Sendable {
        public var offset: Duration
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let elapsed: @Sendable () -> Duration
    private let sleepFor: @Sendable (Duration) async throws -> Void

    public init<C: Clock<Duration>>(_ clock: C) {
        let origin = clock.now
        elapsed = { origin.duration(to: clock.now) }
        sleepFor = { try await clock.sleep(for: $0) }
    }

    public var now: Instant { Instant(offset: elapsed()) }
    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try await sleepFor(deadline.offset - elapsed())
    }
}
