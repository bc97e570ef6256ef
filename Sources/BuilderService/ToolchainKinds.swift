import BuilderCore
import KilnProtocol
import SchedulerCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Who each job is for, told by its toolchain: a REAPI action runs over a ``HostRootToolchain`` root (the scheduler
/// places it as a job of its own), anything else is an sccache client's compile. The builder's own root is known by
/// its id alone; a root naming a container image is read from its archive once per id (for a real toolchain, a
/// stat: only archives of a few kilobytes are read). Counts the jobs of each kind running now.
final class ToolchainKinds: Sendable {
    static let capacity = 4096
    private let known = Mutex<[String: JobKind]>([:])
    private let running = Mutex<[JobKind: Int]>([:])

    /// The kind of a job of `archiveID`, whose archive is (or will be) at `archivePath`. An archive not there yet
    /// is taken for an sccache toolchain, and not remembered.
    func kind(of archiveID: String, archivePath: String?) -> JobKind {
        if archiveID == HostRootToolchain.toolchain.archiveID { return .remoteAction }
        if let kind = known.withLock({ $0[archiveID] }) { return kind }
        guard let archivePath, access(archivePath, F_OK) == 0 else { return .sccache }
        let kind: JobKind = HostRootToolchain.actionRoot(ofArchiveAt: archivePath) == nil ? .sccache : .remoteAction
        known.withLock { known in
            if known.count >= Self.capacity { known.removeAll(keepingCapacity: true) }
            known[archiveID] = kind
        }
        return kind
    }

    /// Counts a job of `kind` as running until `body` ends; `report` hears every change of the counts, in order.
    func running<R>(
        _ kind: JobKind, report: @Sendable ([JobKind: Int]) -> Void, _ body: () async throws -> R
    ) async rethrows -> R {
        change(kind, by: 1, report: report)
        defer { change(kind, by: -1, report: report) }
        return try await body()
    }

    private func change(_ kind: JobKind, by delta: Int, report: @Sendable ([JobKind: Int]) -> Void) {
        running.withLock { counts in
            counts[kind, default: 0] += delta
            report(counts)
        }
    }
}
