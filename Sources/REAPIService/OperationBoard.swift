import REAPIWire
import SwiftProtobuf
import Synchronization

/// The operations of running and recently ended Executes by name, so that a client whose Execute stream broke
/// follows its action again with WaitExecution instead of running it twice (Bazel does so after a dropped stream).
///
/// An operation's work runs in a task of its own. One that nobody follows for `grace` is cancelled: a client that
/// closes its stream and does not come back still stops its job on the farm, as an sccache client does. An ended
/// operation is kept for `retention` (at most `capacity` of them, `endedBytes` in all), then WaitExecution answers NOT_FOUND.
final class OperationBoard: Sendable {
    typealias Operation = Google_Longrunning_Operation

    /// One follower's view of an operation: its stages from the latest on, ending after the one that is `done`.
    struct Following: Sendable {
        let updates: AsyncStream<Operation>
        /// Stops following (the follower's stream closed); the operation goes on.
        let stop: @Sendable () -> Void
    }

    private struct Entry {
        var latest: Operation
        var followers: [UInt64: AsyncStream<Operation>.Continuation] = [:]
        var work: Task<Void, Never>?
        var ended: ContinuousClock.Instant?
        /// The ended operation's encoded size, counted against ``OperationBoard/endedBytes``.
        var bytes = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var endedOrder: [String] = []
        var endedBytes = 0
        var nextFollower: UInt64 = 0
    }

    private let state = Mutex(State())
    let grace: Duration
    let retention: Duration
    let capacity: Int
    /// The most bytes of ended operations kept (their results' file lists can be long).
    let endedBytes: Int

    init(grace: Duration = .seconds(10), retention: Duration = .seconds(600), capacity: Int = 10_000, endedBytes: Int = 64 << 20) {
        self.grace = grace
        self.retention = retention
        self.capacity = capacity
        self.endedBytes = endedBytes
    }

    /// Publishes `first` under its name and runs `work` in a task of its own; the operation it returns (which must
    /// be `done`) ends it. Returns the caller's following, which starts at `first`.
    func start(_ first: Operation, work: @escaping @Sendable () async -> Operation) -> Following {
        state.withLock { state in
            forgetExpired(&state, now: .now)
            // Made under the lock, so that no follower can leave before there is a task to cancel.
            let task = Task { [self] in
                publish(await work())
            }
            state.entries[first.name] = Entry(latest: first, work: task)
            return follow(first.name, in: &state) ?? Following(updates: AsyncStream { $0.finish() }, stop: {})
        }
    }

    /// A new following of the operation `name`; nil when it is not known (never, or no longer).
    func follow(_ name: String) -> Following? {
        state.withLock { state in
            forgetExpired(&state, now: .now)
            return follow(name, in: &state)
        }
    }

    private func follow(_ name: String, in state: inout State) -> Following? {
        guard let entry = state.entries[name] else { return nil }
        let id = state.nextFollower
        state.nextFollower += 1
        let (updates, continuation) = AsyncStream.makeStream(of: Operation.self)
        continuation.yield(entry.latest)
        if entry.latest.done {
            continuation.finish()
        } else {
            state.entries[name]?.followers[id] = continuation
            continuation.onTermination = { [self] _ in unfollow(name, id) }
        }
        return Following(updates: updates, stop: { continuation.finish() })
    }

    private func publish(_ operation: Operation) {
        let bytes = operation.done ? (try? operation.serializedBytes() as [UInt8])?.count ?? 0 : 0
        // Continuations are fed outside the lock: finishing one runs its termination handler, which takes the lock.
        let followers = state.withLock { state -> [AsyncStream<Operation>.Continuation] in
            guard var entry = state.entries[operation.name], !entry.latest.done else { return [] }
            entry.latest = operation
            let followers = Array(entry.followers.values)
            if operation.done {
                entry.followers = [:]
                entry.work = nil
                entry.ended = .now
                entry.bytes = bytes
                state.endedOrder.append(operation.name)
                state.endedBytes += bytes
            }
            state.entries[operation.name] = entry
            return followers
        }
        for follower in followers {
            follower.yield(operation)
            if operation.done { follower.finish() }
        }
    }

    /// The follower `id` is gone; the operation's work is cancelled if nobody follows it `grace` later.
    private func unfollow(_ name: String, _ id: UInt64) {
        let unfollowed = state.withLock { state in
            state.entries[name]?.followers[id] = nil
            return state.entries[name].map { $0.followers.isEmpty && !$0.latest.done } ?? false
        }
        guard unfollowed else { return }
        Task { [self] in
            try? await Task.sleep(for: grace)
            let abandoned = state.withLock { state in
                state.entries[name].flatMap { $0.followers.isEmpty && !$0.latest.done ? $0.work : nil }
            }
            abandoned?.cancel()
        }
    }

    /// Drops ended operations older than `retention`, and the oldest beyond `capacity` or `endedBytes`.
    private func forgetExpired(_ state: inout State, now: ContinuousClock.Instant) {
        var dropped = 0
        for name in state.endedOrder {
            let entry = state.entries[name]
            let old = entry?.ended.map { $0.duration(to: now) > retention } ?? true
            guard old || state.endedOrder.count - dropped > capacity || state.endedBytes > endedBytes else { break }
            state.endedBytes -= entry?.bytes ?? 0
            state.entries[name] = nil
            dropped += 1
        }
        state.endedOrder.removeFirst(dropped)
    }
}
