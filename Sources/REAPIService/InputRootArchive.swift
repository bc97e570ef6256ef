import ArchiveKit
import BlockingPool
import ContentStore
import Foundation
import GRPCCore
import REAPIWire
import SwiftProtobuf

/// An action's input root as the tar a builder's job takes: every directory, file (with its executable bit) and
/// symlink of the tree under `work/`, read from the CAS. Names must be single path components (no `/`, `.` or
/// `..`), so nothing lands outside `work/`; the builder checks the archive again as it unpacks it.
struct InputRootArchive {
    let cas: DiskBlobStore
    /// The most bytes of files one action brings: the tar is held in memory on its way to the builder.
    static let maxInputBytes: Int64 = 512 << 20

    /// The tar's bytes; a missing blob is the client's `FAILED_PRECONDITION` (it uploads and asks again).
    func tar(of root: BlobDigest, under prefix: String = "work") async throws -> [UInt8] {
        var entries: [(path: String, kind: Entry)] = []
        var total: Int64 = 0
        var pending = [(root, prefix)]
        while let (digest, path) = pending.popLast() {
            guard let bytes = try await cas.read(digest) else { throw Self.missing(digest) }
            guard let directory = try? Build_Bazel_Remote_Execution_V2_Directory(serializedBytes: bytes) else {
                throw RPCError(code: .invalidArgument, message: "the input blob \(digest) is not a Directory message")
            }
            entries.append((path, .directory))
            guard entries.count < 1_000_000 else { throw RPCError(code: .invalidArgument, message: "the input root has over a million entries") }
            for file in directory.files {
                let fileDigest = try file.digest.checked()
                total += fileDigest.sizeBytes
                guard total <= Self.maxInputBytes else {
                    throw RPCError(code: .invalidArgument, message: "the input root holds more than \(Self.maxInputBytes) bytes of files")
                }
                entries.append((try Self.child(path, file.name), .file(fileDigest, executable: file.isExecutable)))
            }
            for link in directory.symlinks { entries.append((try Self.child(path, link.name), .symlink(link.target))) }
            for child in directory.directories { pending.append((try child.digest.checked(), try Self.child(path, child.name))) }
        }
        return try await write(entries)
    }

    enum Entry {
        case directory
        case file(BlobDigest, executable: Bool)
        case symlink(String)
    }

    private func write(_ entries: [(path: String, kind: Entry)]) async throws -> [UInt8] {
        var digests: [String: BlobDigest] = [:]
        for case (let path, .file(let digest, _)) in entries { digests[path] = digest }
        let blobs = try await cas.read(Array(digests.values))
        if let absent = digests.values.first(where: { blobs[$0] == nil }) { throw Self.missing(absent) }
        let contentsByPath = digests.mapValues { blobs[$0] ?? [] }
        return try await BlockingWork.run {
            let buffer = TarArchiveBuffer()
            let writer = try TarArchiveWriter(into: buffer)
            for (path, kind) in entries {
                switch kind {
                case .directory: try writer.addDirectory(path)
                case .file(_, let executable): try writer.addFile(path, contents: contentsByPath[path] ?? [], mode: executable ? 0o755 : 0o644)
                case .symlink(let target): try writer.addSymlink(path, target: target)
                }
            }
            try writer.finish()
            return buffer.bytes
        }
    }

    private static func child(_ parent: String, _ name: String) throws -> String {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\u{0}") else {
            throw RPCError(code: .invalidArgument, message: "'\(name.prefix(100))' is not a file name (one path component) in the input root")
        }
        return parent + "/" + name
    }

    static func missing(_ digest: BlobDigest) -> RPCError {
        RPCError(code: .failedPrecondition, message: "the blob \(digest) is not in the CAS; upload it and execute again")
    }
}
