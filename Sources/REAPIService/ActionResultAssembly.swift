import BlockingPool
import ContentStore
import KilnProtocol
import REAPIWire
import SwiftProtobuf
import WireStreams

/// A builder's finished job as a REAPI ActionResult: each output, stdout and stderr stored in the CAS and named
/// by digest, each output directory as a Tree, the exit code as it was.
struct ActionResultAssembly {
    let cas: DiskBlobStore

    func store(
        _ complete: JobComplete, files declared: [String], directories: [String]
    ) async throws
        -> Build_Bazel_Remote_Execution_V2_ActionResult
    {
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        result.exitCode = complete.output.code
        result.stdoutDigest = try await put(complete.output.stdout)
        result.stderrDigest = try await put(complete.output.stderr)
        // In the order the command declared them (the API sorts nothing, but stable results hash alike).
        let byPath = Dictionary(complete.outputs.map { ($0.path, $0.data) }, uniquingKeysWith: { first, _ in first })
        for path in declared {
            guard let data = byPath[path] else { continue }
            let bytes = try await BlockingWork.run { try data.decompressed() }
            var file = Build_Bazel_Remote_Execution_V2_OutputFile()
            file.path = path
            file.digest = try await put(bytes)
            file.isExecutable = Self.looksExecutable(bytes)
            result.outputFiles.append(file)
        }
        for path in directories {
            // The builder names each directory it found with a trailing `/`; no such entry: the action made none.
            guard byPath[path + "/"] != nil else { continue }
            var tree = OutputTreeBuilder()
            for output in complete.outputs where output.path.hasPrefix(path + "/") {
                let relative = String(output.path.dropFirst(path.count + 1))
                if relative.isEmpty || relative.hasSuffix("/") {
                    tree.addDirectory(relative)
                    continue
                }
                let bytes = try await BlockingWork.run { try output.data.decompressed() }
                tree.addFile(relative, digest: try await put(bytes), isExecutable: Self.looksExecutable(bytes))
            }
            var directory = Build_Bazel_Remote_Execution_V2_OutputDirectory()
            directory.path = path
            directory.treeDigest = try await put(try tree.tree().serializedBytes() as [UInt8])
            result.outputDirectories.append(directory)
        }
        return result
    }

    private func put(_ bytes: [UInt8]) async throws -> Build_Bazel_Remote_Execution_V2_Digest {
        let digest = BlobDigest.of(bytes)
        if !(await cas.missing([digest]).isEmpty) { try await cas.write(bytes, as: digest) }
        return Digest(digest)
    }

    /// Builders return outputs without their mode, so the executable bit is read from the bytes: an ELF program
    /// or shared library (not an object file) or a script with `#!`. Clients that link binaries need it set.
    static func looksExecutable(_ bytes: [UInt8]) -> Bool {
        if bytes.starts(with: [0x23, 0x21]) { return true }
        guard bytes.count >= 18, bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) else { return false }
        // e_type, in the file's own byte order: 2 is an executable, 3 a shared object or a PIE program.
        let type = bytes[5] == 1 ? UInt16(bytes[16]) | UInt16(bytes[17]) << 8 : UInt16(bytes[16]) << 8 | UInt16(bytes[17])
        return type == 2 || type == 3
    }
}
