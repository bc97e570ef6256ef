import ArchiveKit

/// A job's inputs tar as its body arrives: held in memory while small (a compile's inputs are tens to hundreds of
/// kilobytes), so most jobs never create, write, read back and delete a file for them; past `memoryLimit` all of
/// it goes to the file at `path` (a crate's sources, big generated files), so a large body is never whole in memory.
final class InputsSpool {
    /// The most a job's inputs are held in memory: a job waiting for a slot holds them that long.
    static let defaultMemoryLimit = 4 << 20

    let path: String
    private let memoryLimit: Int
    private var bytes: [UInt8] = []
    private var file: FileWriter?

    init(path: String, memoryLimit: Int = InputsSpool.defaultMemoryLimit) {
        self.path = path
        self.memoryLimit = memoryLimit
    }

    /// Appends the next piece of the tar.
    func write(_ piece: UnsafeRawBufferPointer) throws {
        if let file { return try file.write(piece) }
        guard bytes.count + piece.count > memoryLimit else { return bytes.append(contentsOf: piece) }
        let file = try FileWriter(path: path)
        try bytes.withUnsafeBytes { try file.write($0) }
        try file.write(piece)
        bytes = []
        self.file = file
    }

    /// Ends the spool: the tar when it stayed in memory, nil when it is in the file at ``path`` (closed now).
    func finish() throws -> [UInt8]? {
        guard let file else { return bytes }
        try file.close()
        return nil
    }
}
