/// Why a sandbox could not run a job. A compiler that exits non-zero is not an error: it is a result.
public struct SandboxError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The sandbox tool (bwrap, dockerd, pot) is missing or too old.
        public static let unavailable = Code(name: "unavailable")
        /// Setting up the job's root failed (mount, unpack, directories).
        public static let setup = Code(name: "setup")
        /// The job ran past its deadline and was killed with its whole process group.
        public static let timedOut = Code(name: "timedOut")
        /// The job wrote more to stdout or stderr than allowed.
        public static let outputTooLarge = Code(name: "outputTooLarge")
        /// The job's process could not be started, or died from a signal.
        public static let processFailed = Code(name: "processFailed")
        /// The toolchain archive is refused or does not unpack (the builder then evicts it from its cache).
        public static let badToolchain = Code(name: "badToolchain")
        /// The job went past one of its limits (disk, output size) and was stopped.
        public static let limitExceeded = Code(name: "limitExceeded")
        /// The compile failed because the job or the host ran out of memory, processes or disk (not a result).
        public static let resourcesExhausted = Code(name: "resourcesExhausted")
        /// The client went away; the job was killed and its sandbox cleaned.
        public static let cancelled = Code(name: "cancelled")
        /// A declared output is unsafe to read (a symlink, `..`, not a regular file).
        public static let unsafeOutput = Code(name: "unsafeOutput")
        public var description: String { name }
    }

    public let code: Code
    /// What went wrong and what to do about it.
    public let message: String
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(code): \(message) (\($0))" } ?? "\(code): \(message)" }
}
