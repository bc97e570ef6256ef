import BuilderCore

/// What the farm-wide tier holds for a key, and who builds it when nobody has.
public enum SharedClaim: Sendable, Equatable {
    /// A stored entry (``ResultCacheEntry`` bytes, to be verified by the reader).
    case entry([UInt8])
    /// No entry, and the caller now holds the key's lease: it builds and publishes.
    case lead
    /// No entry; another builder holds the lease and is building it.
    case held
}

/// The result cache's tier shared by every builder of a farm: entries published by any builder, and one lease per
/// key so that identical jobs on different builders compile once. Every call may throw when the tier is out of
/// reach; callers then work with their local tier.
public protocol SharedResultTier: Sendable {
    /// The entry for `key`, or else the lease on it for `owner` (valid for `lease`), in one step.
    func claim(_ key: ResultCacheKey, owner: String, lease: Duration) async throws -> SharedClaim
    /// Extends `owner`'s lease; false when it no longer holds it (it lapsed and another builder took it).
    func renew(_ key: ResultCacheKey, owner: String, lease: Duration) async throws -> Bool
    /// Stores `entry` for `expiresIn` and gives up `owner`'s lease, so waiting builders find the entry.
    func publish(_ entry: [UInt8], for key: ResultCacheKey, expiresIn: Duration, owner: String) async throws
    /// Gives up `owner`'s lease without an entry (the build failed, or its result is not kept): a waiter leads.
    func release(_ key: ResultCacheKey, owner: String) async throws
    /// Removes a damaged or foreign entry.
    func remove(_ key: ResultCacheKey) async throws
}
