import Dispatch

/// Runs blocking work (libarchive, file hashing, recursive deletes) on a dispatch queue so that neither Swift's
/// cooperative pool nor a server's event loop waits on disk.
public enum BlockingWork {
    private static let queue = DispatchQueue(label: "kiln.blocking", attributes: .concurrent)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
