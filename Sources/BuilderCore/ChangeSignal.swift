import Synchronization

/// Wakes the tasks waiting for something to change (a drain waiting for the last job to end) instead of having
/// them poll. A waiter reads ``generation``, checks its condition, then waits ``wait(past:)`` that generation,
/// so a change between the check and the wait is never missed.
public final class ChangeSignal: Sendable {
    private struct State {
        var generation = 0
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many changes there have been.
    public var generation: Int { state.withLock { $0.generation } }

    /// Records a change and wakes every waiter.
    public func notify() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once there has been a change after generation `seen`, or once the task is cancelled.
    public func wait(past seen: Int) async {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let waits = state.withLock { state in
                    guard state.generation == seen, !Task.isCancelled else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Returns once `condition` holds, checking it at once and after every change, or once the task is cancelled.
    public func wait(until condition: () -> Bool) async {
        while !Task.isCancelled {
            let seen = generation
            if condition() { return }
            await wait(past: seen)
        }
    }
}
