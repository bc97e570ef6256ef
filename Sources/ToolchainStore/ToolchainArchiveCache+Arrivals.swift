import BuilderCore

/// Toolchains on their way in: while one client uploads an archive, the jobs assigned meanwhile are told it is
/// here (`need_toolchain` false) and their builds wait for the upload to end, instead of every cold client sending
/// the same archive at once (with four CI runners starting together, four uploads of the same 40–150 MB, each
/// read, hashed and written by the builder). Should the upload fail, the waiting builds find no archive and their
/// clients compile locally, as they do for any missing toolchain; the next assignment asks for it again.
extension ToolchainArchiveCache {
    /// True when the archive is cached or an upload of it is under way (decides `need_toolchain`).
    public func holdsOrAwaits(_ archiveID: String) -> Bool { contains(archiveID) || arrivals.contains(archiveID) }

    /// Records that an upload of `archiveID` has begun; call ``uploadEnded(_:)`` when it is committed or given up.
    public func beginUpload(of archiveID: String) throws -> sending ToolchainUpload {
        let upload = try beginUpload()
        arrivals.begin(archiveID)
        return upload
    }

    /// Ends an upload begun with ``beginUpload(of:)``, stored or not, and wakes the builds waiting for it.
    public func uploadEnded(_ archiveID: String) {
        arrivals.end(archiveID)
        arrivalSignal.notify()
    }

    /// Builds waiting now for an upload to end.
    public var buildsAwaitingUploads: Int { arrivals.waiting }

    /// Waits while an upload of `archiveID` is under way and the archive is not cached, for at most `patience`.
    func awaitArrival(of archiveID: String, patience: Duration) async {
        guard !contains(archiveID), arrivals.contains(archiveID), patience > .zero else { return }
        arrivals.waiting += 1
        defer { arrivals.waiting -= 1 }
        let signal = arrivalSignal
        let timer = Task {
            try? await Task.sleep(for: patience)
            signal.notify()
        }
        defer { timer.cancel() }
        let deadline = ContinuousClock.now.advanced(by: patience)
        // The actor runs nothing else between reading the generation and checking: no end is missed.
        while !contains(archiveID), arrivals.contains(archiveID), ContinuousClock.now < deadline, !Task.isCancelled {
            let seen = signal.generation
            await signal.wait(past: seen)
        }
    }
}

/// How many uploads of each archive are under way, and how many builds wait for one.
struct ToolchainArrivals {
    private var counts: [String: Int] = [:]
    var waiting = 0

    func contains(_ archiveID: String) -> Bool { counts[archiveID] != nil }

    mutating func begin(_ archiveID: String) { counts[archiveID, default: 0] += 1 }

    mutating func end(_ archiveID: String) {
        guard let count = counts[archiveID] else { return }
        counts[archiveID] = count > 1 ? count - 1 : nil
    }
}
