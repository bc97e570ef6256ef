import ArchiveKit
import BLAKE3
import BlockingPool
import BuilderCore
import Foundation
import KilnErrors
import KilnProtocol

/// The build server's toolchain archives: `<cache_dir>/tc/<c0>/<c1>/<archive_id>` as upstream lays them out
/// (protocol §8.3), an LRU bounded by total bytes. Recency is kept in file mtimes, so the cache and its order
/// survive restarts. An upload is committed only when its BLAKE3 matches the id it was sent for (synced to disk
/// before it is renamed into place); upstream keeps a mismatched file. Archives found at start are hashed again
/// before their first use, and one that no longer matches its id (torn by a crash) is evicted: the client then
/// compiles locally and uploads it again.
public actor ToolchainArchiveCache {
    let directory: String
    private var index: LRUIndex<String>
    private var uploads = 0
    /// Archives of an earlier run, not hashed again yet.
    private var unverified: Set<String> = []
    private var verifying: [String: Task<Bool, Never>] = [:]
    /// Archives to evict once no job uses them.
    private var doomed: Set<String> = []
    /// Uploads under way (``ToolchainArchiveCache/holdsOrAwaits(_:)``), and the signal of their ends.
    var arrivals = ToolchainArrivals()
    let arrivalSignal = ChangeSignal()

    /// Opens (creating if needed) the cache under `cacheDirectory/tc` and takes in what an earlier run left.
    public init(cacheDirectory: String, capacity: UInt64) throws {
        directory = cacheDirectory + "/tc"
        index = LRUIndex(capacity: capacity)
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: directory + "/.incoming", withIntermediateDirectories: true)
            for stale in try files.contentsOfDirectory(atPath: directory + "/.incoming") {
                try? files.removeItem(atPath: directory + "/.incoming/" + stale)
            }
        } catch {
            throw ToolchainStoreError(.io, "cannot create the toolchain cache in '\(directory)'; check cache_dir", underlying: error)
        }
        var found: [(key: String, size: UInt64, lastUse: Date)] = []
        for path in (files.subpaths(atPath: directory) ?? []) where !path.hasPrefix(".") {
            let parts = path.split(separator: "/")
            let attributes = try? files.attributesOfItem(atPath: directory + "/" + path)
            guard parts.count == 3, Toolchain(archiveID: String(parts[2])).isWellFormed, attributes?[.type] as? FileAttributeType == .typeRegular
            else { continue }
            let size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
            found.append((String(parts[2]), size, attributes?[.modificationDate] as? Date ?? .distantPast))
        }
        for evicted in index.restore(found) { try? files.removeItem(atPath: Self.path(of: evicted, in: directory)) }
        unverified = Set(found.map(\.key).filter(index.contains))
    }

    /// True when the archive is cached (decides `need_toolchain`).
    public func contains(_ archiveID: String) -> Bool { index.contains(archiveID) }

    public var totalSize: UInt64 { index.totalSize }
    public var capacity: UInt64 { index.capacity }
    public var count: Int { index.count }
    /// The archives held, most recently used first, with their sizes and whether a job uses them now.
    public var inventory: [(archiveID: String, bytes: UInt64, inUse: Bool)] { index.inventory.map { ($0.key, $0.size, $0.pinned) } }
    public var archiveIDs: [String] { index.keysByRecency }

    /// Starts an upload into a temporary file of the cache.
    public func beginUpload() throws -> sending ToolchainUpload {
        uploads += 1
        return try ToolchainUpload(
            temporaryPath: "\(directory)/.incoming/\(ProcessInfo.processInfo.processIdentifier)-\(uploads)", limit: index.capacity)
    }

    /// Stores a finished upload as `archiveID` if its bytes hash to that id; otherwise deletes it and throws.
    public func commit(_ upload: FinishedUpload, as archiveID: String) throws {
        defer { unlink(upload.temporaryPath) }
        guard Toolchain(archiveID: archiveID).isWellFormed else { throw ToolchainStoreError(.badID, "'\(archiveID)' is not an archive id") }
        guard upload.archiveID == archiveID else {
            throw ToolchainStoreError(.digestMismatch, "the uploaded toolchain hashes to \(upload.archiveID), not \(archiveID)")
        }
        guard index.fits(upload.size) else {
            throw ToolchainStoreError(.tooLarge, "the toolchain (\(upload.size) bytes) is larger than toolchain_cache_size; raise it")
        }
        let destination = Self.path(of: archiveID, in: directory)
        do {
            try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw ToolchainStoreError(.io, "cannot create the cache directory for \(archiveID)", underlying: error)
        }
        guard rename(upload.temporaryPath, destination) == 0 else {
            throw ToolchainStoreError(.io, "cannot move the upload into '\(destination)'", cause: String(cString: strerror(errno)))
        }
        Self.synchronizeDirectory(of: destination)
        unverified.remove(archiveID)
        evict(index.insert(archiveID, size: upload.size))
    }

    /// Pins a cached archive for a job and returns its path; nil when it is not cached (after waiting up to
    /// `patience` for an upload of it under way), or when an archive of an earlier run no longer hashes to its id
    /// (it is then evicted). Call ``release(_:)``.
    public func lease(_ archiveID: String, patience: Duration = .zero) async -> String? {
        await awaitArrival(of: archiveID, patience: patience)
        guard index.contains(archiveID) else { return nil }
        if unverified.contains(archiveID), await !verify(archiveID) { return nil }
        guard index.pin(archiveID) else { return nil }
        let path = Self.path(of: archiveID, in: directory)
        // mtime is the persistent recency (upstream's LRU does the same).
        utimes(path, nil)
        return path
    }

    /// Hashes an archive of an earlier run once (concurrent leases share the work, off the actor); evicts it when
    /// its bytes no longer hash to its id.
    private func verify(_ archiveID: String) async -> Bool {
        if let running = verifying[archiveID] { return await running.value }
        let path = Self.path(of: archiveID, in: directory)
        let check = Task { (try? await BlockingWork.run { try Self.archiveID(ofFileAt: path) }) == archiveID }
        verifying[archiveID] = check
        let intact = await check.value
        verifying[archiveID] = nil
        unverified.remove(archiveID)
        if !intact, !index.isPinned(archiveID) {
            index.remove(archiveID)
            unlink(path)
        }
        return intact
    }

    /// sccache's archive id of the file at `path`: its BLAKE3, read in pieces.
    static func archiveID(ofFileAt path: String) throws -> String {
        guard let file = FileHandle(forReadingAtPath: path) else { throw ToolchainStoreError(.io, "cannot read '\(path)'") }
        defer { try? file.close() }
        var hasher = BLAKE3Hasher()
        while let piece = try file.read(upToCount: 1 << 20), !piece.isEmpty { hasher.update([UInt8](piece)) }
        return DigestHex.sccache(hasher.finalize())
    }

    /// Makes a rename into the directory of `path` durable.
    private static func synchronizeDirectory(of path: String) {
        let descriptor = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    public func release(_ archiveID: String) {
        evict(index.unpin(archiveID))
        if doomed.contains(archiveID), !index.isPinned(archiveID) { discard(archiveID) }
    }

    /// Evicts an archive that turned out unusable (it does not unpack): at once, or when its last job releases
    /// it. The next job of that toolchain asks the client for it again.
    public func discard(_ archiveID: String) {
        guard index.contains(archiveID) else {
            doomed.remove(archiveID)
            return
        }
        guard !index.isPinned(archiveID) else {
            doomed.insert(archiveID)
            return
        }
        doomed.remove(archiveID)
        index.remove(archiveID)
        unlink(Self.path(of: archiveID, in: directory))
    }

    private func evict(_ ids: [String]) {
        for id in ids { unlink(Self.path(of: id, in: directory)) }
    }

    /// Where the archive of `archiveID` is kept while it is cached; nil for an id that is not well formed.
    public nonisolated func archivePath(of archiveID: String) -> String? {
        Toolchain(archiveID: archiveID).isWellFormed ? Self.path(of: archiveID, in: directory) : nil
    }

    static func path(of id: String, in directory: String) -> String {
        let characters = Array(id)
        return "\(directory)/\(characters[0])/\(characters[1])/\(id)"
    }
}
