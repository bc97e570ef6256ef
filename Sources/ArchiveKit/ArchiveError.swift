import KilnErrors

/// Why an archive or a zlib stream was refused or could not be processed.
public struct ArchiveError: KilnError, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// A member path that is absolute or climbs out with `..` (or a hard link pointing so).
        public static let unsafePath = Code(name: "unsafePath")
        /// A member that would be written through a symlink.
        public static let symlinkEscape = Code(name: "symlinkEscape")
        /// A device node, fifo or socket.
        public static let forbiddenType = Code(name: "forbiddenType")
        /// More bytes or more entries than the limits allow (a bomb).
        public static let limitExceeded = Code(name: "limitExceeded")
        /// The bytes are not a readable archive or zlib stream.
        public static let corrupt = Code(name: "corrupt")
        /// libarchive or the filesystem failed.
        public static let io = Code(name: "io")
        public var description: String { name }
    }

    public static var domain: String { "archive" }
    public let code: Code
    public let message: String
    public let underlying: (any Error)?
    public let site: ThrowSite

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.site = ThrowSite(file: file, line: line)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// Bounds that make a tar bomb or zlib bomb fail with a clear error instead of filling the disk.
public struct ExtractionLimits: Sendable, Hashable {
    /// The most bytes of file data the archive may unpack to.
    public var maxTotalBytes: UInt64
    /// The most entries the archive may hold.
    public var maxEntries: Int

    public init(maxTotalBytes: UInt64, maxEntries: Int) {
        self.maxTotalBytes = maxTotalBytes
        self.maxEntries = maxEntries
    }

    /// Generous for a compiler toolchain (the gcc 12 one is 19 entries and 31 MB compressed).
    public static let toolchain = ExtractionLimits(maxTotalBytes: 8 << 30, maxEntries: 200_000)
    /// Generous for one compile's inputs.
    public static let jobInputs = ExtractionLimits(maxTotalBytes: 2 << 30, maxEntries: 100_000)
}
