/// Whether the shared tier is worth asking. After a failure it is left alone for `pause`, so a Redis that is down
/// or slow costs one deadline per pause instead of one per job; the first call after the pause tries again.
/// Reports only the changes (up to down, down to up), so an outage is logged once.
public struct SharedTierHealth<Instant: InstantProtocol>: Sendable where Instant: Sendable, Instant.Duration: Sendable {
    private enum State: Sendable {
        case up
        case down(retryAt: Instant)
    }

    public let pause: Instant.Duration
    private var state = State.up

    public init(pause: Instant.Duration) { self.pause = pause }

    public var isUp: Bool {
        if case .up = state { return true }
        return false
    }

    /// Whether a call may be made at `now`.
    public func allows(at now: Instant) -> Bool {
        switch state {
        case .up: true
        case .down(let retryAt): now >= retryAt
        }
    }

    /// A call failed at `now`; true when the tier was up until then (the outage starts).
    public mutating func failed(at now: Instant) -> Bool {
        defer { state = .down(retryAt: now.advanced(by: pause)) }
        return isUp
    }

    /// A call succeeded; true when the tier was down until then (the outage ends).
    public mutating func succeeded() -> Bool {
        defer { state = .up }
        return !isUp
    }
}
