import Foundation

/// Runs long synchronous work (seconds of hashing or decoding in a debug build, blocking waits) on a thread of its
/// own. The test process runs every suite at once on Swift's cooperative pool, two threads on a two-core machine:
/// work that holds one of them for seconds starves the in-process servers of other suites until their clients time
/// out. Dispatch's global pool is no better: it is as narrow, and the curl transport and blocking work use it.
public enum OwnThread {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
