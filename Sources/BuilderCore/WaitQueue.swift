/// The tasks waiting on an actor for something it hands out (a job slot, a container), in arrival order, each
/// of which may give up when its task is cancelled. No I/O and no locking: the owning actor calls it, and routes
/// a cancellation back to itself:
///
///     let id = waiting.reserveID()
///     try await withTaskCancellationHandler {
///         try await withCheckedThrowingContinuation { waiting.enqueue(id, $0) }
///     } onCancel: {
///         Task { await self.giveUpWaiting(id) }  // calls waiting.cancel(id)
///     }
public struct WaitQueue<Value: Sendable>: Sendable {
    private var nextID = 0
    private var waiters: [(id: Int, continuation: CheckedContinuation<Value, any Error>)] = []

    public init() {}

    public var count: Int { waiters.count }
    public var isEmpty: Bool { waiters.isEmpty }

    /// Hands `value` to the longest waiter; false when nobody waits.
    @discardableResult
    public mutating func resumeFirst(with value: Value) -> Bool {
        guard !waiters.isEmpty else { return false }
        waiters.removeFirst().continuation.resume(returning: value)
        return true
    }

    /// Ends the wait of `id` with a `CancellationError`, unless it was handed a value already; true when it did.
    @discardableResult
    public mutating func cancel(_ id: Int) -> Bool {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return false }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
        return true
    }

    /// A number for the next waiter: its actor passes it to ``enqueue(_:_:)`` inside
    /// `withCheckedThrowingContinuation`, and to ``cancel(_:)`` from the task's cancellation handler.
    public mutating func reserveID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    /// Queues a waiter, or ends its wait at once when its task is cancelled already.
    public mutating func enqueue(_ id: Int, _ continuation: CheckedContinuation<Value, any Error>) {
        if Task.isCancelled {
            continuation.resume(throwing: CancellationError())
        } else {
            waiters.append((id, continuation))
        }
    }
}
