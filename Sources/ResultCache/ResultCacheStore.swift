import ArchiveKit
import BlockingPool
import BuilderCore
import Foundation
import KilnErrors
import KilnProtocol
import Synchronization

/// Where and how long results are kept (`[result_cache]`).
public struct ResultCacheSettings: Sendable, Hashable {
    public var directory: String
    /// Total bytes of entries; least recently used ones are removed beyond it.
    public var capacity: UInt64 = 2 << 30
    /// Seconds a successful compile's entry is served.
    public var ttlSeconds: UInt64 = 7 * 24 * 3600
    /// Seconds a failed compile's entry is served; 0: failures are not stored.
    public var failureTTLSeconds: UInt64 = 600
    /// Largest entry stored.
    public var maxEntryBytes: UInt64 = 256 << 20
    /// Serve what `directory` holds; never write, touch or remove anything there.
    public var readOnly = false

    public init(directory: String) { self.directory = directory }
}

/// The builder's finished jobs on disk: `<dir>/<k0k1>/<key>`, one ``ResultCacheEntry`` per file, published by
/// rename from `<dir>/.incoming` so a reader never sees half an entry. An LRU bounded by bytes, with recency in
/// file mtimes, so entries and their order survive restarts. Expired and damaged entries are misses and are
/// removed (unless read-only).
public final class ResultCacheStore: Sendable {
    public enum Lookup: Sendable, Equatable {
        case hit(JobComplete)
        case miss
        case expired
        case corrupt(String)
    }

    public let settings: ResultCacheSettings
    private let index: Mutex<LRUIndex<String>>
    private let publishSequence = Mutex(0)
    private let now: @Sendable () -> Date

    /// Opens the cache (creating it unless read-only) and takes in what an earlier run left.
    public init(settings: ResultCacheSettings, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.settings = settings
        self.now = now
        let files = FileManager.default
        var index = LRUIndex<String>(capacity: settings.capacity)
        var evicted: [String] = []
        do {
            if !settings.readOnly {
                try? files.removeItem(atPath: settings.directory + "/.incoming")
                try files.createDirectory(atPath: settings.directory + "/.incoming", withIntermediateDirectories: true)
            }
            var found: [(key: String, size: UInt64, lastUse: Date)] = []
            for path in files.subpaths(atPath: settings.directory) ?? [] where !path.hasPrefix(".") {
                let parts = path.split(separator: "/")
                guard parts.count == 2, let key = ResultCacheKey(hex: String(parts[1])), parts[0] == key.hex.prefix(2),
                    let attributes = try? files.attributesOfItem(atPath: settings.directory + "/" + path),
                    attributes[.type] as? FileAttributeType == .typeRegular
                else { continue }
                found.append((key.hex, (attributes[.size] as? NSNumber)?.uint64Value ?? 0, attributes[.modificationDate] as? Date ?? .distantPast))
            }
            evicted = index.restore(found)
        } catch {
            throw ResultCacheError(.io, "cannot create the result cache in '\(settings.directory)'; check result_cache.dir", underlying: error)
        }
        self.index = Mutex(index)
        if !settings.readOnly { remove(evicted) }
    }

    public var entryCount: Int { index.withLock { $0.count } }
    public var totalBytes: UInt64 { index.withLock { $0.totalSize } }

    /// The stored result for `key`, if it is whole and still fresh.
    public func lookup(_ key: ResultCacheKey) async -> Lookup {
        let path = self.path(of: key.hex)
        let limit = settings.capacity
        let bytes = try? await BlockingWork.run { () -> [UInt8]? in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
            guard ((attributes[.size] as? NSNumber)?.uint64Value ?? 0) <= limit else { return [] }
            return FileManager.default.contents(atPath: path).map { [UInt8]($0) }
        }
        guard let bytes = bytes ?? nil else { return .miss }
        let entry: ResultCacheEntry
        do {
            entry = try ResultCacheEntry.decode(bytes, key: key.hex)
        } catch {
            discard(key.hex)
            return .corrupt("\(error)")
        }
        guard isFresh(createdAt: entry.createdAt, isFailure: entry.isFailure) else {
            discard(key.hex)
            return .expired
        }
        if !settings.readOnly {
            index.withLock { _ = $0.touch(key.hex) }
            utimes(path, nil)
        }
        return .hit(entry.result)
    }

    /// The entry in `bytes` (from the shared tier) if it is intact, was stored under `key` and is still fresh.
    public func verifiedEntry(_ bytes: [UInt8], key: ResultCacheKey) -> ResultCacheEntry? {
        guard let entry = try? ResultCacheEntry.decode(bytes, key: key.hex),
            isFresh(createdAt: entry.createdAt, isFailure: entry.isFailure)
        else { return nil }
        return entry
    }

    /// Whether a finished job's result may be stored at all (failures only with a failure TTL; never read-only).
    public func accepts(_ result: JobComplete) -> Bool {
        !settings.readOnly && isKept(result)
    }

    /// Whether an entry for `result` would be written here (not read-only, and it fits in the capacity).
    public func fitsLocally(_ result: JobComplete) -> Bool {
        !settings.readOnly && index.withLock { $0.fits(UInt64(ResultCacheEntry.length(of: result))) }
    }

    /// How long an entry for `result` is served.
    public func lifetime(of result: JobComplete) -> Duration {
        .seconds(result.output.code == 0 ? settings.ttlSeconds : settings.failureTTLSeconds)
    }

    /// Whether `result` is kept at all (not a failure without a failure TTL, not larger than `maxEntryBytes`).
    public func keeps(_ result: JobComplete) -> Bool {
        isKept(result) && UInt64(ResultCacheEntry.length(of: result)) <= settings.maxEntryBytes
    }

    /// The entry bytes for `result`, created now, or nil when such a result is not kept (a failure without a
    /// failure TTL, or larger than `maxEntryBytes`; checked before encoding, so an answer too large costs no copy).
    public func entryBytes(for result: JobComplete, key: ResultCacheKey) -> [UInt8]? {
        guard keeps(result) else { return nil }
        return try? ResultCacheEntry(createdAt: UInt64(max(0, now().timeIntervalSince1970)), result: result).encoded(key: key.hex)
    }

    /// Publishes `result` under `key`: written in full to a temporary file, then renamed into place.
    /// Returns false when it was not stored (not accepted, too large, or the disk refused; `error` says which).
    @discardableResult
    public func store(_ result: JobComplete, for key: ResultCacheKey) async throws -> Bool {
        guard accepts(result), fitsLocally(result), let bytes = entryBytes(for: result, key: key) else { return false }
        return try await write(bytes, for: key)
    }

    /// Publishes entry `bytes` under `key` (unless read-only, or they do not fit in the capacity).
    @discardableResult
    public func write(_ bytes: [UInt8], for key: ResultCacheKey) async throws -> Bool {
        guard !settings.readOnly, index.withLock({ $0.fits(UInt64(bytes.count)) }) else { return false }
        let number = publishSequence.withLock { value in
            value += 1
            return value
        }
        let temporary = "\(settings.directory)/.incoming/\(ProcessInfo.processInfo.processIdentifier)-\(number)"
        let destination = path(of: key.hex)
        try await BlockingWork.run {
            defer { unlink(temporary) }
            do {
                // Not synced to disk: an entry a crash tore fails its digest on read and is a miss, and an fsync
                // per job costs more than the compile of a small file.
                let writer = try FileWriter(path: temporary, mode: 0o644)  // what other readers of the directory expect
                try bytes.withUnsafeBytes { try writer.write($0) }
                try writer.close()
            } catch {
                throw ResultCacheError(.io, "cannot write a result cache entry in '\(temporary)'", underlying: error)
            }
            // The key's prefix directory is made by the first entry that needs it.
            var renamed = rename(temporary, destination) == 0
            if !renamed && errno == ENOENT {
                mkdir((destination as NSString).deletingLastPathComponent, 0o755)
                renamed = rename(temporary, destination) == 0
            }
            guard renamed else {
                throw ResultCacheError(.io, "cannot publish a result cache entry as '\(destination)'", cause: String(cString: strerror(errno)))
            }
        }
        remove(index.withLock { $0.insert(key.hex, size: UInt64(bytes.count)) })
        return true
    }

    /// Removes every entry past its TTL, reading only entry headers; returns how many. Nothing in read-only mode.
    @discardableResult
    public func sweepExpired() async -> Int {
        guard !settings.readOnly else { return 0 }
        let keys = index.withLock { $0.keysByRecency }
        let stale =
            (try? await BlockingWork.run { [self] in
                keys.filter { key in
                    guard let handle = FileHandle(forReadingAtPath: path(of: key)) else { return true }
                    defer { try? handle.close() }
                    let header = (try? handle.read(upToCount: ResultCacheEntry.headerLength)).map { [UInt8]($0) } ?? []
                    guard let summary = ResultCacheEntry.summary(fromHeader: header) else { return true }
                    return !isFresh(createdAt: summary.createdAt, isFailure: summary.isFailure)
                }
            }) ?? []
        for key in stale { discard(key) }
        return stale.count
    }

    private func isKept(_ result: JobComplete) -> Bool { result.output.code == 0 || settings.failureTTLSeconds > 0 }

    private func isFresh(createdAt: UInt64, isFailure: Bool) -> Bool {
        let ttl = isFailure ? settings.failureTTLSeconds : settings.ttlSeconds
        let age = now().timeIntervalSince1970 - Double(createdAt)
        return ttl > 0 && age < Double(ttl)
    }

    private func discard(_ key: String) {
        guard !settings.readOnly else { return }
        index.withLock { $0.remove(key) }
        unlink(path(of: key))
    }

    private func remove(_ keys: [String]) {
        for key in keys { unlink(path(of: key)) }
    }

    func path(of key: String) -> String { "\(settings.directory)/\(key.prefix(2))/\(key)" }
}
