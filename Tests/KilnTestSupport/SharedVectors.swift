import Foundation
import Sandboxing
import Testing

/// Access to `../shared/vectors`, the golden bytes captured from real sccache 0.4.0 traffic.
public enum SharedVectors {
    /// The repository root, found from this file's path (tests run from a checkout).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `$KILN_SHARED_DIR`, or `shared/` beside the repository as CI lays it out.
    public static var sharedDirectory: URL {
        if let custom = ProcessInfo.processInfo.environment["KILN_SHARED_DIR"] {
            return URL(fileURLWithPath: custom)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    /// Why the golden vectors are not here, or nil (CI lays out `shared/` beside the clone, so there they are).
    public static var missingReason: String? {
        let directory = sharedDirectory.appendingPathComponent("vectors").path
        guard FileManager.default.fileExists(atPath: directory + "/README.md") else {
            return "no golden vectors at \(directory) (set KILN_SHARED_DIR to the shared/ folder)"
        }
        return nil
    }

    /// The comment a test that needs the vectors is skipped with.
    public static var skipComment: Comment { Comment(rawValue: missingReason ?? "") }

    public static func bytes(_ name: String) throws -> [UInt8] {
        let url = sharedDirectory.appendingPathComponent("vectors").appendingPathComponent(name)
        return Array(try Data(contentsOf: url))
    }

    /// The body of a captured HTTP message (after the blank line).
    public static func httpBody(_ name: String) throws -> [UInt8] {
        let message = try bytes(name)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let range = message.firstRange(of: separator) else { return [] }
        return Array(message[range.upperBound...])
    }

    /// The header lines of a captured HTTP message.
    public static func httpHead(_ name: String) throws -> String {
        let message = try bytes(name)
        guard let range = message.firstRange(of: Array("\r\n\r\n".utf8)) else { return "" }
        return String(decoding: message[..<range.lowerBound], as: UTF8.self)
    }
}

/// A directory under the system temporary directory, removed with everything in it by ``remove()``.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String
    public var url: URL { URL(fileURLWithPath: path) }

    /// A new directory in `parent` (default: the system's temporary directory).
    public init(prefix: String = "kiln-test", in parent: String? = nil) throws {
        // Without a doubled slash ("/tmp/" + "/name"): paths are compared with the kernel's (mountinfo).
        let parent = parent ?? NSTemporaryDirectory()
        let base = parent.hasSuffix("/") ? String(parent.dropLast()) : parent
        var template = Array((base + "/\(prefix).XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: made)
        // Searchable by others: a root builder's jobs run as an unprivileged user that must reach build_dir.
        chmod(path, 0o711)
    }

    /// Deletes the tree. A builder a test killed leaves its overlays mounted in it, and a child of a stopped server
    /// (a `pot` command) can still be writing to it: those are unmounted (detached) and the deletion is tried again
    /// for a few seconds, so no farm stays behind in the temporary directory.
    public func remove() {
        for attempt in 0..<10 {
            _ = OverlayMount.unmountAll(under: path)
            if (try? FileManager.default.removeItem(atPath: path)) != nil || !FileManager.default.fileExists(atPath: path) { return }
            if attempt < 9 { usleep(300_000) }
        }
    }

    deinit { remove() }

    /// Writes `bytes` to `relative` under the directory, creating parents, and returns the full path.
    @discardableResult
    public func write(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let target = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: target)
        return target.path
    }
}

/// Writes an executable script that is run right after, creating parents. A child process writes it: a file this
/// process had open for writing stays open in any child that another thread forks meanwhile, until that child
/// execs, and running the file then fails with "Text file busy" (ETXTBSY).
@discardableResult
public func writeExecutable(_ path: String, _ script: String) throws -> String {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    let result = try runCommand("/bin/sh", ["-c", #"cat > "$1" && chmod 755 "$1""#, "write", path], stdin: Data(script.utf8))
    guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    return path
}

/// Runs a command and returns its standard output (test helper; products use JobSpawn).
public func runCommand(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    let input = Pipe()
    if stdin != nil { process.standardInput = input }
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The absolute path of `name` on PATH, or nil.
public func which(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
