import Foundation

/// Reads the files the kernel generates (`/proc`, `/sys`) whole.
public enum KernelFile {
    /// The file's text, or nil when it cannot be opened. Foundation's `String(contentsOfFile:)` returns only the
    /// first 4 KiB of such a file (the kernel gives its size as 0): a mount table longer than that lost its last
    /// mounts, which are the newest (a builder's overlays left by a crash), so a restarted builder did not see them.
    public static func text(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
