/// Member paths as they may be written under an extraction root.
public enum ArchivePath {
    /// The member path made relative and normalized, or nil when it is absolute, climbs with `..`, or names
    /// nothing. Leading `./` and inner `.` components are dropped; `a//b` is `a/b`.
    public static func safeRelative(_ raw: String) -> String? {
        guard !raw.hasPrefix("/") else { return nil }
        var parts: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." { return nil }
            parts.append(component)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }
}

/// File-type bits of `mode_t` (libarchive's `AE_IF*` macros have casts Swift cannot import).
enum FileTypeBits {
    static let mask: UInt32 = 0o170000
    static let regular: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000
    static let symlink: UInt32 = 0o120000
    static let characterDevice: UInt32 = 0o020000
    static let blockDevice: UInt32 = 0o060000
    static let fifo: UInt32 = 0o010000
    static let socket: UInt32 = 0o140000
}

/// What an extraction wrote.
public struct ExtractionSummary: Sendable, Hashable {
    public var entries = 0
    public var bytes: UInt64 = 0
    /// Members whose setuid, setgid or sticky bits were removed.
    public var strippedSpecialBits = 0
    /// The ``ArchiveContentDigest`` of what was unpacked, when it was asked for.
    public var contentDigest: [UInt8]?
    public init() {}
}
