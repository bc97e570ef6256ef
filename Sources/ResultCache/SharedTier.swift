import BuilderCore
import Synchronization

/// How the result cache uses the farm-wide tier (`[result_cache] shared_url`).
public struct SharedTierSettings: Sendable, Hashable {
    /// How long a builder's claim on a key lasts without renewal: a builder that dies mid-build hands over to a
    /// waiting one after at most this long. Renewed every third of it while the compile runs.
    public var lease: Duration = .seconds(10)
    /// The first and the longest wait between two looks at a key another builder is building.
    public var firstPoll: Duration = .milliseconds(10)
    public var longestPoll: Duration = .milliseconds(200)
    /// How long the tier is left alone after a failure (Redis down or slow): jobs use the local tier meanwhile.
    public var pauseAfterFailure: Duration = .seconds(5)
    /// Who this builder is (its public address): leases read `<name>/<random>`, so an operator sees who builds what.
    public var builderName = ""

    public init() {}
}

/// The farm-wide half of the result cache: finds an entry another builder published, or takes the key's lease
/// and builds, or waits while another builder holds it (and takes over when its lease lapses). A failure of the
/// tier is never the job's: the job goes on with the local tier, the tier is paused, and the outage reported once.
final class SharedTier: Sendable {
    enum Outcome: Sendable {
        case hit(ResultCacheEntry, bytes: [UInt8])
        case lead(owner: String)
        case unavailable
    }

    let backend: any SharedResultTier
    let settings: SharedTierSettings
    private let clock: ErasedClock
    private let health: Mutex<SharedTierHealth<ErasedClock.Instant>>
    private let onEvent: @Sendable (ResultCache.Event) -> Void

    init(
        backend: any SharedResultTier, settings: SharedTierSettings, clock: ErasedClock,
        onEvent: @escaping @Sendable (ResultCache.Event) -> Void
    ) {
        (self.backend, self.settings, self.clock, self.onEvent) = (backend, settings, clock, onEvent)
        health = Mutex(SharedTierHealth(pause: settings.pauseAfterFailure))
    }

    /// An intact, fresh entry (`verify` decides), the lease, or nothing to do with the shared tier for this job.
    /// Waits while another builder builds the key; throws `CancellationError` when the job is cancelled meanwhile.
    func claim(_ key: ResultCacheKey, verify: (_ bytes: [UInt8]) -> ResultCacheEntry?) async throws -> Outcome {
        guard health.withLock({ $0.allows(at: clock.now) }) else { return .unavailable }
        let owner = settings.builderName + "/" + String(UInt64.random(in: .min ... .max), radix: 16)
        var delay = settings.firstPoll
        var waited = false
        var removedDamaged = false
        while true {
            let claim: SharedClaim
            do {
                claim = try await backend.claim(key, owner: owner, lease: settings.lease)
                succeeded()
            } catch {
                // The job was cancelled (its client left): not the tier's failure, and nothing to build.
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                failed(error)
                return .unavailable
            }
            switch claim {
            case .entry(let bytes):
                if let entry = verify(bytes) {
                    onEvent(.shared(.hit))
                    return .hit(entry, bytes: bytes)
                }
                onEvent(.shared(.damaged))
                // Removed once; an entry damaged again (another writer) is left to its expiry and this job runs.
                guard !removedDamaged, (try? await backend.remove(key)) != nil else { return .unavailable }
                removedDamaged = true
            case .lead:
                onEvent(.shared(.miss))
                return .lead(owner: owner)
            case .held:
                if !waited { onEvent(.shared(.leaseWait)) }
                waited = true
                try await clock.sleep(for: delay)
                delay = min(delay * 2, settings.longestPoll)
            }
        }
    }

    /// Runs `body` (the build) while renewing `owner`'s lease on `key`.
    func renewingLease<T>(on key: ResultCacheKey, owner: String, _ body: () async throws -> T) async throws -> T {
        let renewer = Task { [self] in
            while true {
                do { try await clock.sleep(for: settings.lease / 3) } catch { return }
                do {
                    _ = try await backend.renew(key, owner: owner, lease: settings.lease)
                    succeeded()
                } catch {
                    if Task.isCancelled { return }
                    failed(error)
                }
            }
        }
        defer { renewer.cancel() }
        return try await body()
    }

    /// Publishes `entry` (nil: nothing is kept for this result) and gives up the lease.
    func finish(_ key: ResultCacheKey, owner: String, entry: [UInt8]?, expiresIn: Duration) async {
        do {
            if let entry {
                try await backend.publish(entry, for: key, expiresIn: expiresIn, owner: owner)
                onEvent(.shared(.published))
            } else {
                try await backend.release(key, owner: owner)
            }
            succeeded()
        } catch {
            failed(error)
        }
    }

    private func succeeded() {
        if health.withLock({ $0.succeeded() }) { onEvent(.shared(.recovered)) }
    }

    private func failed(_ error: any Error) {
        let first = health.withLock { $0.failed(at: clock.now) }
        onEvent(.shared(.failed("\(error)", firstOfOutage: first)))
    }
}
