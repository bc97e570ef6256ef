import ArchiveKit
import KilnErrors

/// Why a sandbox could not run a job. A compiler that exits non-zero is not an error: it is a result.
public struct SandboxError: KilnError, Sendable {
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
        /// The job's inputs are refused (`..`, absolute paths, symlink escapes, devices, bombs, a damaged tar).
        public static let badInputs = Code(name: "badInputs")
        /// A declared output is unsafe to read (a symlink, `..`, not a regular file).
        public static let unsafeOutput = Code(name: "unsafeOutput")
        /// A REAPI action asks for a platform this builder cannot give it (a container image it lacks).
        public static let unsupportedPlatform = Code(name: "unsupportedPlatform")
        public var description: String { name }
    }

    public static var domain: String { "sandbox" }
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

    /// The job itself caused it (its inputs, its toolchain archive, its outputs, its limits): its client is told
    /// why, in the message, which speaks of the job's own files and limits only. Anything else (the disk, the
    /// engine, a mount) is the builder's problem, told to its log only.
    public var isTheJobsOwnDoing: Bool {
        if code == .badToolchain { return (underlying as? ArchiveError).map { $0.code != .io } ?? false }
        return [.badInputs, .limitExceeded, .timedOut, .outputTooLarge, .unsafeOutput, .resourcesExhausted, .unsupportedPlatform].contains(code)
    }

    /// The error for inputs that did not unpack: the job's own doing unless libarchive or the disk failed.
    static func inputsRefused(_ error: ArchiveError, into place: String = "", file: String = #fileID, line: Int = #line) -> SandboxError {
        SandboxError(
            error.code == .io ? .setup : .badInputs, "the job's inputs do not unpack\(place): \(error.message)", underlying: error, file: file,
            line: line)
    }
}

extension SandboxError {
    /// A REAPI action (a job of ``HostRootToolchain``) on a builder whose sandbox cannot run one.
    static func remoteActionsUnsupported(by backend: String) -> SandboxError {
        SandboxError(
            .unavailable,
            "REAPI actions run on overlay and docker builders only: the \(backend) sandbox cannot give them a root; use type = \"overlay\" or \"docker\""
        )
    }

    /// A REAPI action that names a container image, on an overlay builder (its actions run on the host's `/usr`).
    static func containerImageUnsupported(_ image: String) -> SandboxError {
        SandboxError(
            .unsupportedPlatform,
            "the action asks for container-image \(image), and this builder runs actions on its host's /usr (overlay sandbox): drop the property, or send it to a farm of docker builders"
        )
    }
}
