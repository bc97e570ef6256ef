/// Coalescing of concurrent identical jobs, with no I/O: the first arrival for a key leads (runs the job), later
/// ones wait. When the lead produces a result every waiter shares it; when it fails, the earliest waiter leads
/// next and the others keep waiting. Callers act on the decisions it returns.
public struct CoalescingTable<Key: Hashable & Sendable, Waiter: Hashable & Sendable>: Sendable {
    public enum Arrival: Sendable, Equatable {
        case lead
        case wait
    }

    /// What the lead's end means for the waiters.
    public enum Handover: Sendable, Equatable {
        /// These waiters get the lead's result; the key is idle again.
        case share(with: [Waiter])
        /// The lead failed: this waiter runs the job now (nil: nobody was waiting, the key is idle).
        case promote(Waiter?)
    }

    private var waiting: [Key: [Waiter]] = [:]

    public init() {}

    /// Keys that have a job running.
    public var runningKeys: Set<Key> { Set(waiting.keys) }

    public func waiters(of key: Key) -> [Waiter] { waiting[key] ?? [] }

    public mutating func arrive(_ key: Key, _ waiter: Waiter) -> Arrival {
        guard waiting[key] != nil else {
            waiting[key] = []
            return .lead
        }
        waiting[key]?.append(waiter)
        return .wait
    }

    /// A waiter that gave up (its client hung up). False when it was not waiting (already handed a decision).
    public mutating func leave(_ key: Key, _ waiter: Waiter) -> Bool {
        guard let index = waiting[key]?.firstIndex(of: waiter) else { return false }
        waiting[key]?.remove(at: index)
        return true
    }

    /// The lead's job ended; `succeeded` when it produced a result to share.
    public mutating func finish(_ key: Key, succeeded: Bool) -> Handover {
        let queue = waiting[key] ?? []
        if succeeded {
            waiting[key] = nil
            return .share(with: queue)
        }
        guard let next = queue.first else {
            waiting[key] = nil
            return .promote(nil)
        }
        waiting[key] = Array(queue.dropFirst())
        return .promote(next)
    }
}
