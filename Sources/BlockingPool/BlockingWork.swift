import NIOCore
import NIOPosix

/// The one place blocking work runs (libarchive, zlib, file hashing and recursive deletes, libcurl transfers):
/// a fixed set of threads, so that neither Swift's cooperative pool nor a server's event loop waits on a disk or
/// a peer, and a burst of work queues up instead of making a thread per item.
public enum BlockingWork {
    /// Enough threads that transfers waiting on a slow peer (each bounded by its deadline) leave threads for
    /// file work, few enough that a flood of requests cannot make the process thousands of threads.
    public static let threadCount = max(8, 4 * System.coreCount)

    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()

    /// Runs `body` on the pool and returns its result. Work not yet started when the task is cancelled does not
    /// start; started work runs to its end (pass it a flag to stop early, as ``CurlTransport`` does).
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
