/// The one shape of Kiln's errors, whatever the module: a code to match on, a message that says what to do
/// about it, the underlying error it wraps (kept as an error, not flattened to text), and where it was made.
/// Clients never see more than a short message (see `ServiceSupport.WireHTTP`); the log gets ``logDescription``.
public protocol KilnError: Error, CustomStringConvertible, Sendable {
    associatedtype Code: Hashable & Sendable & CustomStringConvertible
    /// The module's word for its errors in descriptions (`archive`, `sandbox`, `http` …).
    static var domain: String { get }
    var code: Code { get }
    /// What went wrong and how to fix it.
    var message: String { get }
    /// The error this one wraps: a Swift error, or ``ErrorText`` from a C library, the kernel or a tool.
    var underlying: (any Error)? { get }
    /// Where it was made.
    var site: ThrowSite { get }

    init(_ code: Code, _ message: String, underlying: (any Error)?, file: String, line: Int)
}

extension KilnError {
    /// An error whose cause is text only (`strerror`, libcurl's error buffer, a tool's stderr).
    public init(_ code: Code, _ message: String, cause: String, file: String = #fileID, line: Int = #line) {
        self.init(code, message, underlying: ErrorText(cause), file: file, line: line)
    }

    public var description: String { "\(Self.domain) \(code): \(message)" + (underlying.map { " (\($0))" } ?? "") }

    /// The description with the place it was made, for the log.
    public var logDescription: String { "\(description) [\(site)]" }
}

/// Where an error was made: `file:line`, for the log only.
public struct ThrowSite: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(file):\(line)" }
}

/// The reason a C library, the kernel or a tool gave, as the underlying error where there is no Swift error.
public struct ErrorText: Error, Sendable, Hashable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public var description: String { text }
}

/// How errors are written to the log: a ``KilnError`` with the place it was made, anything else as it describes
/// itself.
public enum KilnErrorLog {
    public static func text(_ error: any Error) -> String { (error as? any KilnError)?.logDescription ?? "\(error)" }
}
