import BuilderCore

/// At most `capacity` jobs build at once; the rest wait in arrival order. The same number is reported to the
/// scheduler as `num_cpus`, so it never sends more than the server runs. A waiter whose task is cancelled (its
/// client went away) leaves the queue.
actor JobSlots {
    let capacity: Int
    private var inUse = 0
    private var waiting = WaitQueue<Void>()

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Takes a slot, waiting for one when all are busy; throws `CancellationError` (holding no slot) when the
    /// task is cancelled while it waits.
    func acquire() async throws {
        if inUse < capacity {
            inUse += 1
            return
        }
        let id = waiting.reserveID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { waiting.enqueue(id, $0) }
        } onCancel: {
            Task { await self.giveUpWaiting(id) }
        }
    }

    private func giveUpWaiting(_ id: Int) { waiting.cancel(id) }

    /// Hands the slot to the next waiter, or frees it.
    func release() {
        if !waiting.resumeFirst(with: ()) { inUse -= 1 }
    }

    var busy: Int { inUse }
    var queued: Int { waiting.count }
}
