import KilnErrors

/// Why a job the scheduler runs itself (a REAPI action) did not complete on a builder.
public struct FarmJobError: KilnError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// No builder took the job before its patience ran out (none registered, or all busy).
        public static let noCapacity = Code(name: "noCapacity")
        /// A builder failed the job for reasons of its own (its log says why).
        public static let builderFailed = Code(name: "builderFailed")
        /// The job ran past its timeout and was killed.
        public static let timedOut = Code(name: "timedOut")
        /// The builder's sandbox refused what the job did (an unsafe output, a limit): running it again fails again.
        public static let refused = Code(name: "refused")
        /// This builder cannot give the job the platform it asks for (a container image); another builder may.
        public static let unsupportedPlatform = Code(name: "unsupportedPlatform")
        /// The job's request could not be put together.
        public static let badJob = Code(name: "badJob")
        public var description: String { name }
    }

    public static var domain: String { "farm job" }
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
}
