/// When a build server heartbeats (protocol §7.1): every 30 s, and 10 s after a failed attempt so that a
/// scheduler that restarts learns about the server quickly. The scheduler prunes a server after 90 s of silence.
public struct HeartbeatSchedule: Sendable, Hashable {
    public var interval: Duration = .seconds(30)
    public var retryAfterError: Duration = .seconds(10)

    public init() {}

    /// The wait before the next heartbeat, given whether the last one was accepted.
    public func delay(afterSuccess succeeded: Bool) -> Duration { succeeded ? interval : retryAfterError }
}
