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
        // The outputs to keep, in the order the command declared them (the API sorts nothing, but stable results
        // hash alike): each file, then each directory's files and subdirectories (`/`-ended, empty data).
        let byPath = Dictionary(complete.outputs.map { ($0.path, $0.data) }, uniquingKeysWith: { first, _ in first })
        let files = declared.filter { byPath[$0] != nil }
        // The builder names each directory it found with a trailing `/`; no such entry: the action made none.
        let trees = directories.filter { byPath[$0 + "/"] != nil }.map { path in
            (path, complete.outputs.filter { $0.path.hasPrefix(path + "/") && $0.path.count > path.count + 1 })
        }
        let compressed = files.compactMap { byPath[$0] } + trees.flatMap { $0.1.filter { !$0.path.hasSuffix("/") }.map(\.data) }
        let contents = try await BlockingWork.run { try compressed.map { try $0.decompressed() } }
        // stdout, stderr and every output file in one batch; the trees, which name those files, after.
        var digests = try await cas.store([complete.output.stdout, complete.output.stderr] + contents)[...]
        var bytes = contents[...]
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        result.exitCode = complete.output.code
        result.stdoutDigest = Digest(digests.removeFirst())
        result.stderrDigest = Digest(digests.removeFirst())
        for path in files {
            var file = Build_Bazel_Remote_Execution_V2_OutputFile()
            file.path = path
            file.digest = Digest(digests.removeFirst())
            file.isExecutable = Self.looksExecutable(bytes.removeFirst())
            result.outputFiles.append(file)
        }
        for (path, outputs) in trees {
            var tree = OutputTreeBuilder()
            for output in outputs {
                let relative = String(output.path.dropFirst(path.count + 1))
                if relative.hasSuffix("/") {
                    tree.addDirectory(relative)
                } else {
                    tree.addFile(relative, digest: Digest(digests.removeFirst()), isExecutable: Self.looksExecutable(bytes.removeFirst()))
                }
            }
            var directory = Build_Bazel_Remote_Execution_V2_OutputDirectory()
            directory.path = path
            directory.treeDigest = Digest(try await cas.store([try tree.tree().serializedBytes() as [UInt8]])[0])
            result.outputDirectories.append(directory)
        }
        return result
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
