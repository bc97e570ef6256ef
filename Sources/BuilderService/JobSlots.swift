/// At most `capacity` jobs build at once; the rest wait in arrival order. The same number is reported to the
/// scheduler as `num_cpus`, so it never sends more than the server runs.
actor JobSlots {
    let capacity: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func acquire() async {
        if inUse < capacity {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the slot to the next waiter, or frees it.
    func release() {
        if waiting.isEmpty {
            inUse -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }

    var busy: Int { inUse }
    var queued: Int { waiting.count }
}
