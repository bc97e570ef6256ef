import BuilderCore
import KilnProtocol

/// The coalescing of identical jobs on one builder: the first arrival leads, the others wait for its result, and
/// the next waiter leads when the lead fails; a job whose result is still being written is served it.
extension ResultCache {
    enum Decision: Sendable {
        case share(JobComplete)
        case lead
        case cancelled
    }

    enum Arrival {
        case lead
        case wait(UInt64)
        case stored(JobComplete)
    }

    func arrive(_ key: ResultCacheKey) -> Arrival {
        if let (_, result) = storing[key] { return .stored(result) }
        nextWaiter += 1
        return table.arrive(key, nextWaiter) == .lead ? .lead : .wait(nextWaiter)
    }

    func decision(for key: ResultCacheKey, _ waiter: UInt64) async -> Decision {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                register(continuation, for: waiter, key: key)
            }
        } onCancel: {
            Task { await self.cancel(waiter, key: key) }
        }
    }

    func register(_ continuation: CheckedContinuation<Decision, Never>, for waiter: UInt64, key: ResultCacheKey) {
        if let decision = early.removeValue(forKey: waiter) {
            continuation.resume(returning: decision)
        } else {
            waiting[waiter] = continuation
        }
    }

    func cancel(_ waiter: UInt64, key: ResultCacheKey) {
        guard table.leave(key, waiter) else { return }
        decide(.cancelled, for: waiter)
    }

    func finish(_ key: ResultCacheKey, with result: JobComplete?) {
        switch table.finish(key, succeeded: result != nil) {
        case .share(let waiters):
            for waiter in waiters { decide(result.map(Decision.share) ?? .lead, for: waiter) }
        case .promote(let next):
            if let next { decide(.lead, for: next) }
        }
    }

    func decide(_ decision: Decision, for waiter: UInt64) {
        if let continuation = waiting.removeValue(forKey: waiter) {
            continuation.resume(returning: decision)
        } else {
            early[waiter] = decision
        }
    }
}
