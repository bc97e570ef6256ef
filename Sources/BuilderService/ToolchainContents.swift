/// The content digest (``ArchiveContentDigest``) of each toolchain archive id this server has seen, made once per
/// id however many jobs ask at the same time. Results are keyed on it rather than on the archive id: one compiler
/// packaged by many clients, or by one client on different days, arrives under many ids.
///
/// Kept after the archive itself leaves the cache, so a result can still be served; bounded, oldest first out
/// (the digest is made again from the archive when its id comes back).
actor ToolchainContents {
    private var known: [String: [UInt8]] = [:]
    private var order: [String] = []
    private var pending: [String: Task<[UInt8], any Error>] = [:]
    private let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    /// The digest of `archiveID`, from `make` when it is not known yet (one `make` at a time per id; a failure is
    /// not remembered, the next job tries again).
    func digest(of archiveID: String, make: @escaping @Sendable () async throws -> [UInt8]) async throws -> [UInt8] {
        if let digest = known[archiveID] { return digest }
        if let running = pending[archiveID] { return try await running.value }
        let task = Task { try await make() }
        pending[archiveID] = task
        defer { pending[archiveID] = nil }
        let digest = try await task.value
        remember(digest, for: archiveID)
        return digest
    }

    private func remember(_ digest: [UInt8], for archiveID: String) {
        guard known.updateValue(digest, forKey: archiveID) == nil else { return }
        order.append(archiveID)
        if order.count > capacity { known[order.removeFirst()] = nil }
    }
}
