import Foundation
import KilnTestSupport

/// The toolchain packages that this test process's sccache clients have made, one set per sccache version, handed
/// to the clients started after them.
///
/// A client packages a compiler (a tar of gcc's ~100 MB, gzipped) before its first distributed job: seconds of CPU,
/// and the end-to-end run starts dozens of clients that would each package the same compiler, about a seventh of
/// the run's CPU. A client now starts with the first package made for its version: the archives hard-linked (a
/// client never writes to one), the map from compilers to archives copied (each client rewrites its own). Tests
/// about packaging itself start their clients with `packagesItsOwnToolchain`.
enum PackagedToolchains {
    private static let lock = NSLock()
    /// The kept `[dist] cache_dir` of each version, in ``ProcessScratch``.
    nonisolated(unsafe) private static var kept: [String: String] = [:]

    /// Fills a new client's empty `cacheDirectory` with what is kept for `version`, if anything is.
    static func seed(_ cacheDirectory: String, version: String) throws {
        guard let source = lock.withLock({ kept[version] }) else { return }
        try copy(source, to: cacheDirectory)
    }

    /// Keeps `cacheDirectory` (a client's, once it has distributed a compile) for the clients of `version` to come,
    /// unless one is kept already. The client must be idle: its last compile has returned.
    static func keep(_ cacheDirectory: String, version: String) throws {
        try lock.withLock {
            guard kept[version] == nil, FileManager.default.fileExists(atPath: cacheDirectory + "/client/weak_map.json") else { return }
            let target = try ProcessScratch.path("toolchains-\(version)")
            try copy(cacheDirectory, to: target)
            kept[version] = target
        }
    }

    private static func copy(_ source: String, to target: String) throws {
        let linked = try runToCompletion("/bin/cp", ["-al", source, target])
        guard linked.status == 0 else { throw TestFailure("cannot link \(source) to \(target): \(linked.output)") }
        let map = "/client/weak_map.json"
        unlink(target + map)
        let copied = try runToCompletion("/bin/cp", [source + map, target + map])
        guard copied.status == 0 else { throw TestFailure("cannot copy \(source)\(map): \(copied.output)") }
    }
}
