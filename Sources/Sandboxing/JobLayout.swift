import ArchiveKit
import BlockingPool
import KilnProtocol
import WireStreams

/// Where a job works inside its root: the working directory and each declared output, as path components
/// (`..` resolved, no leading `/`). Every sandbox checks a job this way before touching anything.
struct JobLayout: Sendable {
    struct Output: Sendable {
        /// The output as the client named it; the answer uses this name.
        let name: String
        let components: [String]
        /// The directories the client's path for it passes through before a `..` (see ``SandboxPaths``).
        let traversed: [[String]]
        /// A directory output (named with a trailing `/`): everything under it is returned.
        var isDirectory: Bool { name.hasSuffix("/") }
        /// The path inside the root, with a leading `/`.
        var path: String { "/" + components.joined(separator: "/") }
    }

    let cwd: [String]
    let outputs: [Output]

    init(command: CompileCommand, outputs declared: [String]) throws {
        guard command.cwd.hasPrefix("/"), !command.cwd.split(separator: "/").contains(".."),
            let cwd = SandboxPaths.components(of: command.cwd, cwd: "/")
        else {
            throw SandboxError(.setup, "the job's cwd '\(command.cwd)' must be an absolute path without '..'")
        }
        self.cwd = cwd
        outputs = try declared.map { output in
            guard let resolved = SandboxPaths.resolved(output, cwd: command.cwd) else {
                throw SandboxError(.unsafeOutput, "output '\(output)' climbs above the root or through too many '..'")
            }
            return Output(name: output, components: resolved.components, traversed: resolved.traversed)
        }
    }

    /// The directories the job writes in: its cwd, the parent of each output, and those an output's path passes
    /// through before a `..`.
    var directories: [[String]] { [cwd] + outputs.flatMap { [Array($0.components.dropLast())] + $0.traversed } }

    /// The declared outputs, read from `root` on the host: regular files only, never through a symlink; missing
    /// ones are left out. Each is compressed as it is read, so only its compressed bytes are ever held.
    func readOutputs(under root: String, limit: Int, total: Int) async throws -> [NamedOutput] {
        let outputs = outputs
        return try await BlockingWork.run {
            var remaining = total
            var produced: [NamedOutput] = []
            for output in outputs {
                if output.isDirectory {
                    var reader = OutputDirectoryReader(fileLimit: limit, remaining: remaining)
                    try reader.read(output.components, named: output.name, under: root)
                    remaining = reader.remaining
                    produced += reader.produced
                    continue
                }
                let deflater = try ZlibDeflater(level: 1)
                guard let size = try SandboxPaths.readRegularFile(output.components, under: root, limit: min(limit, remaining), pieces: deflater.add)
                else { continue }
                remaining -= size
                produced.append(NamedOutput(path: output.name, data: OutputData(compressed: try deflater.finish(), uncompressedLength: UInt64(size))))
            }
            return produced
        }
    }
}
