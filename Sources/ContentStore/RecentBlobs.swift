import BuilderCore

/// The content store's blobs lately written or read, held in memory up to a bound: an Execute reads its Action,
/// Command and input root right after the client uploaded them, and the client reads an action's outputs right
/// after they were stored, each a file read and a SHA-256 pass otherwise. Every blob here was checked against its
/// digest as it came in (hashed on upload, or read and checked from disk), so it is served without another check.
struct RecentBlobs {
    /// Larger blobs are always read from disk, in pieces.
    static let maxBlobBytes = 1 << 20
    /// How long a blob served from memory may leave its file's mtime (the store's recency across restarts) behind.
    static let mtimeSlack = Duration.seconds(60)

    private var order: LRUIndex<BlobDigest>
    private var held: [BlobDigest: (bytes: [UInt8], mtimeSet: ContinuousClock.Instant)] = [:]

    /// `capacity`: the most bytes held; 0 holds nothing.
    init(capacity: UInt64) { order = LRUIndex(capacity: capacity) }

    var totalSize: UInt64 { order.totalSize }

    /// Holds `bytes`, whose digest was just checked (or computed), as `digest`; the blob's file was just written
    /// or marked used.
    mutating func remember(_ bytes: [UInt8], as digest: BlobDigest) {
        guard bytes.count <= Self.maxBlobBytes, order.fits(UInt64(bytes.count)) else { return }
        for evicted in order.insert(digest, size: UInt64(bytes.count)) { held[evicted] = nil }
        held[digest] = (bytes, .now)
    }

    /// The blob's bytes when held, and whether its file should be marked used now (its mtime is behind by more
    /// than ``mtimeSlack``).
    mutating func recall(_ digest: BlobDigest) -> (bytes: [UInt8], markFile: Bool)? {
        guard let entry = held[digest] else { return nil }
        order.touch(digest)
        let now = ContinuousClock.now
        guard entry.mtimeSet.duration(to: now) > Self.mtimeSlack else { return (entry.bytes, false) }
        held[digest]?.mtimeSet = now
        return (entry.bytes, true)
    }

    /// Forgets a blob the store dropped or evicted.
    mutating func forget(_ digest: BlobDigest) {
        order.remove(digest)
        held[digest] = nil
    }
}
