import ArchiveKit
import BlockingPool
import Foundation

/// Bounds the disk a job uses: the job's own layer (the overlay's upper directory, where everything the job
/// writes lands) is measured a few times a second while the job runs, and the job is stopped once it holds more
/// than the limit. RLIMIT_FSIZE stops a single large file at once; this stops many smaller ones.
struct DiskUsageWatch: Sendable {
    let directory: String
    let limit: UInt64
    var interval: Duration = .milliseconds(250)

    /// Returns when cancelled; throws when the directory grows past the limit.
    func watch() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            let directory = directory
            let used = try await BlockingWork.run { Self.allocatedBytes(under: directory) }
            if used > limit {
                throw SandboxError(.limitExceeded, "the job wrote \(used) bytes, more than its disk limit of \(limit); raise [job_limits] disk")
            }
        }
    }

    /// Runs `body`, watching `directory` when there is one to watch and a limit.
    static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T, watching directory: String?, limit: UInt64?) async throws -> T {
        guard let directory, let limit else { return try await body() }
        return try await DiskUsageWatch(directory: directory, limit: limit).during(body)
    }

    /// Runs `body` while watching; the first to fail wins and cancels the other.
    func during<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await watch()
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let result = next { return result }
            }
            throw CancellationError()
        }
    }

    /// The bytes allocated to everything under `path` (``SandboxTree``: by descriptor, at any depth).
    static func allocatedBytes(under path: String) -> UInt64 { SandboxTree.allocatedBytes(under: path) }
}
