/// The bookkeeping of a size-bounded LRU cache with pins, with no I/O: callers act on the keys it returns.
///
/// Used for the toolchain archive cache (bounded by bytes on disk) and for unpacked toolchains. A pinned entry is
/// in use and is never chosen for eviction, so the total may exceed the capacity while pins are held; the excess
/// is evicted as soon as pins are released and ``evictions()`` is asked again.
public struct LRUIndex<Key: Hashable & Sendable>: Sendable {
    private struct Entry: Sendable {
        var size: UInt64
        var lastUse: UInt64
        var pins: Int
    }

    private var entries: [Key: Entry] = [:]
    private var tick: UInt64 = 0
    public let capacity: UInt64
    public private(set) var totalSize: UInt64 = 0

    public init(capacity: UInt64) { self.capacity = capacity }

    public func contains(_ key: Key) -> Bool { entries[key] != nil }
    public var count: Int { entries.count }
    /// Keys from least to most recently used.
    public var keysByRecency: [Key] { entries.sorted { $0.value.lastUse < $1.value.lastUse }.map(\.key) }
    /// Keys with their sizes and whether they are in use, most recently used first.
    public var inventory: [(key: Key, size: UInt64, pinned: Bool)] {
        entries.sorted { $0.value.lastUse > $1.value.lastUse }.map { ($0.key, $0.value.size, $0.value.pins > 0) }
    }

    /// True when an entry of `size` bytes can be stored at all.
    public func fits(_ size: UInt64) -> Bool { size <= capacity }

    /// Adds (or resizes) an entry as the most recently used and returns the keys to evict to stay in capacity.
    /// The new entry itself is never among them while it fits.
    public mutating func insert(_ key: Key, size: UInt64) -> [Key] {
        let pins = entries[key]?.pins ?? 0
        remove(key)
        tick += 1
        entries[key] = Entry(size: size, lastUse: tick, pins: pins + 1)
        totalSize += size
        let evicted = evictions()
        entries[key]?.pins -= 1
        return evicted
    }

    /// Takes in what an earlier run left on disk, oldest use first (the caches keep recency in file mtimes);
    /// returns the keys that no longer fit.
    public mutating func restore<Recency: Comparable>(_ entries: [(key: Key, size: UInt64, lastUse: Recency)]) -> [Key] {
        entries.sorted { $0.lastUse < $1.lastUse }.flatMap { insert($0.key, size: $0.size) }
    }

    /// Marks an entry as just used. Returns false for an unknown key.
    @discardableResult
    public mutating func touch(_ key: Key) -> Bool {
        guard entries[key] != nil else { return false }
        tick += 1
        entries[key]?.lastUse = tick
        return true
    }

    /// Marks an entry as used and in use: it cannot be evicted until ``unpin(_:)``. False for an unknown key.
    public mutating func pin(_ key: Key) -> Bool {
        guard touch(key) else { return false }
        entries[key]?.pins += 1
        return true
    }

    /// Releases one pin and returns the keys that can now be evicted to get back within capacity.
    public mutating func unpin(_ key: Key) -> [Key] {
        if let pins = entries[key]?.pins, pins > 0 { entries[key]?.pins = pins - 1 }
        return evictions()
    }

    public func isPinned(_ key: Key) -> Bool { (entries[key]?.pins ?? 0) > 0 }

    public mutating func remove(_ key: Key) {
        if let entry = entries.removeValue(forKey: key) { totalSize -= entry.size }
    }

    /// Removes least recently used unpinned entries until the total fits the capacity; returns their keys.
    public mutating func evictions() -> [Key] {
        guard totalSize > capacity else { return [] }
        var evicted: [Key] = []
        for key in keysByRecency where totalSize > capacity && entries[key]?.pins == 0 {
            remove(key)
            evicted.append(key)
        }
        return evicted
    }
}
