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
        /// An entry another builder of the farm published (shared tier).
        case shared
        /// Another job's build, running at the same time.
        case coalesced
        /// This job's own build.
        case built
    }

    public enum Event: Sendable {
        case lookup(ResultCacheKey, ResultCacheStore.Lookup)
        case storeFailed(ResultCacheKey, String)
        case shared(SharedEvent)
    }

    /// What happened in the shared tier (for metrics; ``failed(_:firstOfOutage:)`` and ``recovered`` for the log).
    public enum SharedEvent: Sendable, Equatable {
        case hit
        case miss
        case published
        /// Another builder was building the key: this job waited for it.
        case leaseWait
        /// An entry failed verification (damaged, foreign or expired) and was treated as a miss.
        case damaged
        /// A call failed; `firstOfOutage` is true once per outage.
        case failed(String, firstOfOutage: Bool)
        /// A call succeeded after an outage.
        case recovered
    }

    public nonisolated let store: ResultCacheStore
    private nonisolated let shared: SharedTier?
    private let onEvent: @Sendable (Event) -> Void
    var table = CoalescingTable<ResultCacheKey, UInt64>()
    var waiting: [UInt64: CheckedContinuation<Decision, Never>] = [:]
    /// Decisions made before their waiter got to suspend.
    var early: [UInt64: Decision] = [:]
    var nextWaiter: UInt64 = 0
    /// Results whose entries are still being written after their job's answer went out: an identical job that
    /// arrives meanwhile is served from here, as it would be from the entry.
    var storing: [ResultCacheKey: (store: UInt64, result: JobComplete)] = [:]
    private var stores: [UInt64: Task<Void, Never>] = [:]

    /// `shared`: the farm-wide tier behind `store` (nil: this builder's disk only).
    public init(
        store: ResultCacheStore, shared: (any SharedResultTier)? = nil, sharedSettings: SharedTierSettings = .init(),
        clock: ErasedClock = ErasedClock(ContinuousClock()), onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.store = store
        self.shared = shared.map { SharedTier(backend: $0, settings: sharedSettings, clock: clock, onEvent: onEvent) }
        self.onEvent = onEvent
    }

    /// Jobs waiting for an identical job's build.
    public func waiterCount(for key: ResultCacheKey) -> Int { table.waiters(of: key).count }

    /// The result for `key`: stored here or in the shared tier, shared with an identical job running here or on
    /// another builder, or built by `build` now.
    public nonisolated func result(
        for key: ResultCacheKey, build: @Sendable () async throws -> JobComplete
    ) async throws -> (result: JobComplete, source: Source) {
        switch await arrive(key) {
        case .lead: break
        case .stored(let result):
            onEvent(.lookup(key, .hit(result)))
            return (result, .hit)
        case .wait(let waiter):
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
        var owner: String?
        if let shared {
            let outcome: SharedTier.Outcome
            do {
                outcome = try await shared.claim(key) { store.verifiedEntry($0, key: key) }
            } catch {
                await finish(key, with: nil)
                throw error
            }
            switch outcome {
            case .hit(let entry, let bytes):
                await finish(key, with: entry.result)
                await keep(bytes, for: key)
                return (entry.result, .shared)
            case .lead(let leaseOwner): owner = leaseOwner
            case .unavailable: break
            }
        }
        let result: JobComplete
        do {
            if let shared, let owner {
                result = try await shared.renewingLease(on: key, owner: owner, build)
            } else {
                result = try await build()
            }
        } catch {
            await finish(key, with: nil)
            // Not awaited: a cancelled job must not delay its answer, and its release must not be cancelled.
            if let shared, let owner { Task { await shared.finish(key, owner: owner, entry: nil, expiresIn: .zero) } }
            throw error
        }
        // Waiters are released, and the entry written after the answer (``settle()`` waits for it).
        await finish(key, with: result, storing: owner)
        return (result, .built)
    }

    /// Returns once every entry of a finished build is written (to disk, and published to the shared tier).
    public func settle() async {
        while let task = stores.values.first { await task.value }
    }

    /// Releases the waiters and starts writing the entry; until it is written, identical jobs are served `result`.
    private func finish(_ key: ResultCacheKey, with result: JobComplete, storing owner: String?) {
        finish(key, with: result)
        let (kept, fits) = (store.keeps(result), store.fitsLocally(result))
        guard kept && fits || owner != nil else { return }
        nextWaiter += 1
        let number = nextWaiter
        if kept { storing[key] = (number, result) }
        stores[number] = Task {
            await persist(result, for: key, kept: kept, fits: fits, owner: owner)
            stored(key, number)
        }
    }

    /// Off the actor: encoding a large result must not hold up other jobs' lookups. Encoded once for both tiers; a
    /// shared lease is released even when nothing is kept.
    private nonisolated func persist(_ result: JobComplete, for key: ResultCacheKey, kept: Bool, fits: Bool, owner: String?) async {
        let entry = kept ? store.entryBytes(for: result, key: key) : nil
        if let entry, fits { await keep(entry, for: key) }
        if let shared, let owner { await shared.finish(key, owner: owner, entry: entry, expiresIn: store.lifetime(of: result)) }
    }

    private func stored(_ key: ResultCacheKey, _ number: UInt64) {
        if storing[key]?.store == number { storing[key] = nil }
        stores[number] = nil
    }

    /// Writes an entry to the local tier; a failure is reported, never the job's.
    private nonisolated func keep(_ entry: [UInt8], for key: ResultCacheKey) async {
        do {
            try await store.write(entry, for: key)
        } catch {
            onEvent(.storeFailed(key, "\(error)"))
        }
    }
}
