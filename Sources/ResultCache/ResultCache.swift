import BuilderCore
import KilnProtocol

/// The builder's result cache in front of its sandbox: a stored result is served without running anything, and
/// concurrent jobs with the same key run once. The first arrival leads and builds; the others wait and share its
/// result (a compile that exited non-zero is a result too). When the lead throws (sandbox failure, deadline,
/// client gone) the next waiter builds instead.
public actor ResultCache {
    /// Where a served result came from.
    public enum Source: String, Sendable {
        /// A stored entry.
        case hit
        /// Another job's build, running at the same time.
        case coalesced
        /// This job's own build.
        case built
    }

    public enum Event: Sendable {
        case lookup(ResultCacheKey, ResultCacheStore.Lookup)
        case storeFailed(ResultCacheKey, String)
    }

    private enum Decision: Sendable {
        case share(JobComplete)
        case lead
        case cancelled
    }

    public nonisolated let store: ResultCacheStore
    private let onEvent: @Sendable (Event) -> Void
    private var table = CoalescingTable<ResultCacheKey, UInt64>()
    private var waiting: [UInt64: CheckedContinuation<Decision, Never>] = [:]
    /// Decisions made before their waiter got to suspend.
    private var early: [UInt64: Decision] = [:]
    private var nextWaiter: UInt64 = 0

    public init(store: ResultCacheStore, onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.store = store
        self.onEvent = onEvent
    }

    /// Jobs waiting for an identical job's build.
    public func waiterCount(for key: ResultCacheKey) -> Int { table.waiters(of: key).count }

    /// The result for `key`: stored, shared with an identical running job, or built by `build` now.
    public nonisolated func result(
        for key: ResultCacheKey, build: @Sendable () async throws -> JobComplete
    ) async throws -> (result: JobComplete, source: Source) {
        let waiter = await arrive(key)
        if let waiter {
            switch await decision(for: key, waiter) {
            case .share(let result): return (result, .coalesced)
            case .cancelled: throw CancellationError()
            case .lead: break
            }
        }
        let lookup = await store.lookup(key)
        onEvent(.lookup(key, lookup))
        if case .hit(let result) = lookup {
            await finish(key, with: result)
            return (result, .hit)
        }
        let result: JobComplete
        do {
            result = try await build()
        } catch {
            await finish(key, with: nil)
            throw error
        }
        // Waiters are released first; storing can take a moment for large outputs.
        await finish(key, with: result)
        do {
            try await store.store(result, for: key)
        } catch {
            onEvent(.storeFailed(key, "\(error)"))
        }
        return (result, .built)
    }

    /// nil: this job leads; otherwise its waiter number.
    private func arrive(_ key: ResultCacheKey) -> UInt64? {
        nextWaiter += 1
        return table.arrive(key, nextWaiter) == .lead ? nil : nextWaiter
    }

    private func decision(for key: ResultCacheKey, _ waiter: UInt64) async -> Decision {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                register(continuation, for: waiter, key: key)
            }
        } onCancel: {
            Task { await self.cancel(waiter, key: key) }
        }
    }

    private func register(_ continuation: CheckedContinuation<Decision, Never>, for waiter: UInt64, key: ResultCacheKey) {
        if let decision = early.removeValue(forKey: waiter) {
            continuation.resume(returning: decision)
        } else {
            waiting[waiter] = continuation
        }
    }

    private func cancel(_ waiter: UInt64, key: ResultCacheKey) {
        guard table.leave(key, waiter) else { return }
        decide(.cancelled, for: waiter)
    }

    private func finish(_ key: ResultCacheKey, with result: JobComplete?) {
        switch table.finish(key, succeeded: result != nil) {
        case .share(let waiters):
            for waiter in waiters { decide(result.map(Decision.share) ?? .lead, for: waiter) }
        case .promote(let next):
            if let next { decide(.lead, for: next) }
        }
    }

    private func decide(_ decision: Decision, for waiter: UInt64) {
        if let continuation = waiting.removeValue(forKey: waiter) {
            continuation.resume(returning: decision)
        } else {
            early[waiter] = decision
        }
    }
}
