import ArchiveKit
import BLAKE3
import KilnProtocol

/// One toolchain upload as it streams in: written to a temporary file in the cache and hashed on the way, so the
/// archive is never whole in memory. Hand ``finish()``'s result to ``ToolchainArchiveCache/commit(_:as:)``.
public final class ToolchainUpload {
    private let file: FileWriter
    private var hasher = BLAKE3Hasher()
    private let limit: UInt64
    private var committed = false
    /// Small pieces of the body gathered into one: BLAKE3 hashes four chunks at once only in a long enough run,
    /// and the file takes one write instead of many.
    private var pending: [UInt8] = []
    private static let gathered = 1 << 16
    public private(set) var size: UInt64 = 0
    /// Set when a write failed or the upload outgrew the cache; later chunks are read and dropped.
    public private(set) var failure: ToolchainStoreError?

    init(temporaryPath: String, limit: UInt64) throws {
        self.limit = limit
        do {
            file = try FileWriter(path: temporaryPath)
        } catch let error as ArchiveError {
            throw ToolchainStoreError(.io, "cannot start an upload; check cache_dir is writable", underlying: error)
        }
    }

    deinit { if !committed { file.remove() } }

    /// Appends a chunk of the body.
    public func write(_ chunk: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        size += UInt64(chunk.count)
        guard size <= limit else {
            failure = ToolchainStoreError(.tooLarge, "the toolchain is larger than toolchain_cache_size (\(limit) bytes); raise it")
            return
        }
        guard !pending.isEmpty || chunk.count < Self.gathered else { return absorb(chunk) }
        pending.append(contentsOf: chunk)
        if pending.count >= Self.gathered { absorbPending() }
    }

    private func absorbPending() {
        pending.withUnsafeBytes { absorb($0) }
        pending.removeAll(keepingCapacity: true)
    }

    private func absorb(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bytes)
        do {
            try file.write(bytes)
        } catch {
            failure = ToolchainStoreError(.io, "writing the toolchain to the cache failed", underlying: error)
        }
    }

    /// Ends the upload: closes the file and computes the archive id of what arrived. The cache owns the file
    /// from here on.
    public func finish() throws -> FinishedUpload {
        if failure == nil { absorbPending() }
        if let failure { throw failure }
        do {
            try file.synchronize()
            try file.close()
        } catch {
            throw ToolchainStoreError(.io, "writing the uploaded toolchain to disk failed", underlying: error)
        }
        committed = true
        return FinishedUpload(temporaryPath: file.path, archiveID: DigestHex.sccache(hasher.finalize()), size: size)
    }
}

/// A complete upload waiting to be committed: its file and the archive id its bytes hash to.
public struct FinishedUpload: Sendable {
    let temporaryPath: String
    /// sccache's nibble-swapped hex of the BLAKE3 of the bytes.
    public let archiveID: String
    public let size: UInt64
}
