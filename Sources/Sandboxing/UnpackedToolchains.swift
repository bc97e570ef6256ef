import ArchiveKit
import BlockingPool
import BuilderCore
import Foundation
import KilnErrors
import KilnProtocol

/// Toolchain archives unpacked into directories that serve as the read-only lower layer of job roots.
///
/// Each archive is unpacked once: into a temporary directory, then renamed into place, so a half-unpacked
/// toolchain is never seen. Concurrent jobs on the same toolchain share one unpack; jobs on different toolchains
/// never wait on each other (the unpack runs off the actor). A toolchain in use is pinned and never evicted; the
/// rest are evicted least recently used first once their unpacked size exceeds the budget: their bytes plus
/// ``bytesPerEntry`` for each file, directory and link (inodes fill a disk too).
public actor UnpackedToolchains {
    /// A pinned, unpacked toolchain. Give it back with ``release(_:)``.
    public struct Lease: Sendable {
        public let archiveID: String
        public let directory: String
        /// The ``ArchiveContentDigest`` of what was unpacked.
        public let contentDigest: [UInt8]
    }

    private let root: String
    private var index: LRUIndex<String>
    private var contentDigests: [String: [UInt8]] = [:]
    private var unpacking: [String: Task<Void, any Error>] = [:]
    private var sequence = 0

    /// - Parameters:
    ///   - root: the directory that holds them (emptied by the owner at start).
    ///   - budget: the unpacked bytes kept when no job uses them.
    public init(root: String, budget: UInt64) {
        self.root = root
        index = LRUIndex(capacity: budget)
    }

    /// Pins the unpacked toolchain, unpacking `archivePath` first when needed (then `onUnpacked` gets the time).
    public func acquire(
        _ toolchain: Toolchain, archivePath: String, onUnpacked: (@Sendable (Duration) -> Void)? = nil
    ) async throws -> Lease {
        let id = toolchain.archiveID
        guard toolchain.isWellFormed else { throw SandboxError(.setup, "'\(id)' is not a toolchain archive id") }
        while true {
            if let lease = pinIfUnpacked(id) { return lease }
            if let running = unpacking[id] {
                try await running.value
                continue
            }
            sequence += 1
            let staging = "\(root)/.unpacking-\(id)-\(sequence)"
            let destination = directory(of: id)
            let task = Task {
                let started = ContinuousClock.now
                let (size, digest) = try await BlockingWork.run { try Self.unpack(archivePath, staging: staging, destination: destination) }
                self.installed(id, size: size, contentDigest: digest)
                onUnpacked?(started.duration(to: .now))
            }
            unpacking[id] = task
            defer { unpacking[id] = nil }
            try await task.value
        }
    }

    /// Pins a toolchain that is unpacked already; nil when it is not.
    public func pinIfUnpacked(_ archiveID: String) -> Lease? {
        guard index.pin(archiveID) else { return nil }
        return Lease(archiveID: archiveID, directory: directory(of: archiveID), contentDigest: contentDigests[archiveID] ?? [])
    }

    /// Unpins a toolchain, evicting what no longer fits.
    public func release(_ lease: Lease) {
        evict(index.unpin(lease.archiveID))
    }

    /// The ids unpacked right now, least recently used first.
    public var unpackedIDs: [String] { index.keysByRecency }

    private func installed(_ id: String, size: UInt64, contentDigest: [UInt8]) {
        contentDigests[id] = contentDigest
        evict(index.insert(id, size: size))
    }

    private func evict(_ ids: [String]) {
        for id in ids {
            contentDigests[id] = nil
            sequence += 1
            let doomed = "\(root)/.evicted-\(id)-\(sequence)"
            // Renamed first so a new unpack of the same id never meets the half-deleted directory.
            guard rename(directory(of: id), doomed) == 0 else { continue }
            Task.detached { _ = try? await BlockingWork.run { try FileManager.default.removeItem(atPath: doomed) } }
        }
    }

    private func directory(of id: String) -> String { "\(root)/\(id)" }

    /// What each unpacked entry costs beyond its bytes (an inode and at least a block): a toolchain of a million
    /// empty files is not free.
    static let bytesPerEntry: UInt64 = 4096

    /// The unpacked cost (``bytesPerEntry``) and the content digest.
    private static func unpack(_ archive: String, staging: String, destination: String) throws -> (UInt64, [UInt8]) {
        // An action root that names a container image would unpack into a root with no /usr bound over it.
        if let image = HostRootToolchain.actionRoot(ofArchiveAt: archive)?.containerImage { throw SandboxError.containerImageUnsupported(image) }
        let files = FileManager.default
        try? files.removeItem(atPath: staging)
        do {
            try files.createDirectory(atPath: staging, withIntermediateDirectories: true)
            let summary = try SafeExtractor(limits: .toolchain).extract(file: archive, into: staging, inflatingWhole: true, digesting: true)
            try? files.removeItem(atPath: destination)
            guard rename(staging, destination) == 0 else {
                throw SandboxError(.setup, "cannot move the unpacked toolchain into '\(destination)'", cause: SandboxPaths.errorText())
            }
            return (summary.bytes + UInt64(summary.entries) * bytesPerEntry, summary.contentDigest ?? [])
        } catch {
            try? files.removeItem(atPath: staging)
            if let error = error as? ArchiveError {
                throw SandboxError(.badToolchain, "the toolchain archive does not unpack: \(error.message)", underlying: error)
            }
            throw error
        }
    }
}
