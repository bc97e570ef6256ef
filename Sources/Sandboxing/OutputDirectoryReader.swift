import ArchiveKit
import KilnErrors
import KilnProtocol
import WireStreams

#if canImport(Glibc)
    import Glibc
#endif

/// A directory output (a REAPI `output_directories` entry, named with a trailing `/`), read from the job's root
/// the way single outputs are: one `openat` at a time, never through a symlink. Each directory comes back as an
/// empty entry named with a trailing `/` (so empty ones survive), each regular file under its path; a symlink or
/// any other kind of file inside is refused, as it is for a single output.
struct OutputDirectoryReader {
    /// The most entries one job's directory outputs may hold together.
    static let maxEntries = 100_000
    /// The deepest nesting read (each level holds a descriptor and a stack frame while it is walked).
    static let maxDepth = 128

    /// The largest file returned.
    let fileLimit: Int
    /// Bytes left for all outputs of the job.
    var remaining: Int
    /// The most entries read (``maxEntries`` but in tests).
    let entryLimit: Int
    private(set) var produced: [NamedOutput] = []
    private var entries = 0

    init(fileLimit: Int, remaining: Int, entryLimit: Int = Self.maxEntries) {
        self.fileLimit = fileLimit
        self.remaining = remaining
        self.entryLimit = entryLimit
    }

    /// Reads the directory at `components` under `root`, its entries named under `name`; nothing when it is
    /// missing or not a directory.
    mutating func read(_ components: [String], named name: String, under root: String) throws {
        guard let descriptor = try SandboxPaths.openDirectory(components, under: root) else { return }
        defer { close(descriptor) }
        try walk(descriptor, prefix: name.hasSuffix("/") ? name : name + "/", depth: 0)
    }

    private mutating func walk(_ descriptor: Int32, prefix: String, depth: Int) throws {
        guard depth <= Self.maxDepth else {
            throw SandboxError(.limitExceeded, "output directory '\(prefix.prefix(200))…' nests deeper than \(Self.maxDepth) levels")
        }
        produced.append(NamedOutput(path: prefix, data: try OutputData(compressing: [])))
        for name in try names(in: descriptor, atMost: entryLimit - entries) {
            entries += 1
            guard entries <= entryLimit else { throw tooManyEntries }
            var status = stat()
            guard fstatat(descriptor, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { continue }  // gone meanwhile
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                let child = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else {
                    throw SandboxError(.unsafeOutput, "'\(prefix)\(name)' cannot be opened as a directory", cause: SandboxPaths.errorText())
                }
                defer { close(child) }
                try walk(child, prefix: prefix + name + "/", depth: depth + 1)
            case S_IFREG:
                let deflater = try ZlibDeflater(level: 1)
                guard let size = try SandboxPaths.readRegularFile(name, in: descriptor, limit: min(fileLimit, remaining), pieces: deflater.add)
                else { continue }
                remaining -= size
                produced.append(
                    NamedOutput(path: prefix + name, data: OutputData(compressed: try deflater.finish(), uncompressedLength: UInt64(size))))
            default:
                throw SandboxError(.unsafeOutput, "'\(prefix)\(name)' is not a regular file or a directory (a symlink?); it cannot be returned")
            }
        }
    }

    private var tooManyEntries: SandboxError {
        SandboxError(.limitExceeded, "the output directories hold more than \(entryLimit) entries")
    }

    /// The names in a directory, sorted (a duplicate of the descriptor is listed, so the caller's stays open); a
    /// directory of more than `limit` entries is refused before they are all held.
    private func names(in descriptor: Int32, atMost limit: Int) throws -> [String] {
        let listing = dup(descriptor)
        guard listing >= 0, let directory = fdopendir(listing) else {
            if listing >= 0 { close(listing) }
            throw SandboxError(.setup, "cannot list an output directory", cause: SandboxPaths.errorText())
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != "." && name != ".." else { continue }
            guard names.count < limit else { throw tooManyEntries }
            names.append(name)
        }
        return names.sorted()
    }
}
