import BuilderCore
import Foundation
import KilnProtocol

/// What a container backend (Docker, pot) does for ``ContainerPool``. Each call has its own deadline.
protocol ContainerBackend: Sendable {
    /// Makes the image of a toolchain from its `.tar.gz`; throws a ``SandboxError`` that says why not.
    func buildImage(_ archiveID: String, archivePath: String) async throws
    /// Starts a new container from the image of `archiveID` and returns its name.
    func startContainer(fromImageOf archiveID: String) async throws -> String
    func removeContainer(_ container: String) async
    /// Removes a toolchain's image; its containers are removed first.
    func removeImage(of archiveID: String) async
}

/// A container sandbox's images and containers: one image per toolchain, and per image a pool of idle, started
/// containers.
///
/// Beside the containers in use, up to `spares` per toolchain are kept idle, being reset or being started, so that
/// jobs in a row alternate between containers instead of waiting for each other's reset.
///
/// An image is built once, shared by concurrent first jobs, pinned while a container made from it is leased, and
/// evicted least recently used first once the archive bytes of the images exceed the budget; evicting an image
/// removes its idle containers first, then the image. Removals run in order on one background queue. Backend
/// calls run outside the actor's state changes, so jobs on different toolchains never wait on each other.
actor ContainerPool<Backend: ContainerBackend> {
    /// A container for one job, from the image of `archiveID`. Give it back with ``giveBack(_:reusable:)``.
    struct Lease: Sendable {
        let archiveID: String
        let container: String
    }

    private let backend: Backend
    private let idleLimit: Int
    private var images: LRUIndex<String>
    private var building: [String: Task<Void, any Error>] = [:]
    private var idle: [String: [String]] = [:]
    /// Containers being reset or started ahead, and jobs waiting for one of them, per toolchain.
    private var resetting: [String: Int] = [:]
    private var starting: [String: Int] = [:]
    private let spares: Int
    private var waiters: [String: WaitQueue<String?>] = [:]
    private let removals = BoundedWorkQueue(maxWorkers: 1)
    private let resets: BoundedWorkQueue

    /// - Parameters:
    ///   - idleLimit: idle containers kept per toolchain.
    ///   - budget: archive bytes of the images kept when no job uses them.
    ///   - resetWorkers: containers reset at the same time.
    ///   - spares: containers per toolchain kept ready or coming beside those in use (at most `idleLimit`).
    init(backend: Backend, idleLimit: Int, budget: UInt64, resetWorkers: Int, spares: Int = 0) {
        self.backend = backend
        self.idleLimit = idleLimit
        self.spares = min(spares, idleLimit)
        images = LRUIndex(capacity: budget)
        resets = BoundedWorkQueue(maxWorkers: resetWorkers)
    }

    /// A started container with the toolchain in it: an idle one when there is one, else a new one (building the
    /// toolchain's image first when needed).
    func acquire(_ toolchain: Toolchain, archivePath: String, onUnpacked: (@Sendable (Duration) -> Void)? = nil) async throws -> Lease {
        let id = toolchain.archiveID
        guard toolchain.isWellFormed else { throw SandboxError(.setup, "'\(id)' is not a toolchain archive id") }
        try await pinImage(id, archivePath: archivePath, onBuilt: onUnpacked)
        defer { startSpares(of: id) }
        // The longest idle first: what is made ready after a reset (the docker sandbox's stub) has had the most time.
        if idle[id]?.isEmpty == false, let container = idle[id]?.removeFirst() { return Lease(archiveID: id, container: container) }
        if resetting[id, default: 0] + starting[id, default: 0] > waiters[id]?.count ?? 0 {
            // A container being reset or started ahead comes back sooner than a new one starts.
            let handed: String?
            do {
                handed = try await waitForContainer(of: id)
            } catch {
                evict(images.unpin(id))  // the job's client left while it waited
                throw error
            }
            if let handed { return Lease(archiveID: id, container: handed) }
        }
        do {
            return Lease(archiveID: id, container: try await backend.startContainer(fromImageOf: id))
        } catch {
            evict(images.unpin(id))
            throw error as? SandboxError ?? SandboxError(.setup, "cannot start a container for toolchain \(id)", underlying: error)
        }
    }

    /// Waits for a container of toolchain `id` that is being reset or started (nil: it could not be reused);
    /// throws `CancellationError` when the job is cancelled first.
    private func waitForContainer(of id: String) async throws -> String? {
        let waiter = waiters[id, default: WaitQueue()].reserveID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { waiters[id, default: WaitQueue()].enqueue(waiter, $0) }
        } onCancel: {
            Task { await self.giveUpWaiting(waiter, for: id) }
        }
    }

    private func giveUpWaiting(_ waiter: Int, for id: String) { waiters[id]?.cancel(waiter) }

    /// Takes back a container whose job is done: `reset` runs in the background (off the response path, a bounded
    /// number at a time) and says whether the container may be reused.
    func release(_ lease: Lease, reset: @escaping @Sendable (String) async -> Bool) {
        resetting[lease.archiveID, default: 0] += 1
        resets.start { await self.giveBack(lease, reusable: await reset(lease.container)) }
    }

    /// Returns a container after its reset: handed to a waiting job, or kept idle when there is room, when it was
    /// reset cleanly; removed otherwise (and a waiting job then starts a new one).
    private func giveBack(_ lease: Lease, reusable: Bool) {
        resetting[lease.archiveID, default: 1] -= 1
        offer(reusable ? lease.container : nil, of: lease.archiveID, discarding: lease.container)
        evict(images.unpin(lease.archiveID))
    }

    /// Hands a ready container to a waiting job, or keeps it idle when there is room; removes `discarding`
    /// otherwise (a waiting job then starts a new one).
    private func offer(_ container: String?, of id: String, discarding: String?) {
        let someoneWaits = waiters[id]?.isEmpty == false
        if let container, images.contains(id), someoneWaits {
            waiters[id]?.resumeFirst(with: container)  // the waiter holds its own pin on the image
        } else if let container, images.contains(id), idle[id, default: []].count < idleLimit {
            idle[id, default: []].append(container)
        } else {
            if let discarding { removeInBackground(containers: [discarding]) }
            if someoneWaits { waiters[id]?.resumeFirst(with: nil) }
        }
    }

    /// Starts containers in the background until the toolchain's spares (idle, being reset or being started)
    /// number `spares`; each holds a pin on the image while it starts.
    private func startSpares(of id: String) {
        while idle[id, default: []].count + resetting[id, default: 0] + starting[id, default: 0] < spares, images.pin(id) {
            starting[id, default: 0] += 1
            // On the resets' queue, so that settling and draining wait for it too.
            resets.start { [backend] in await self.spareStarted(try? await backend.startContainer(fromImageOf: id), of: id) }
        }
    }

    private func spareStarted(_ container: String?, of id: String) {
        starting[id, default: 1] -= 1
        offer(container, of: id, discarding: container)
        evict(images.unpin(id))
    }

    /// Idle containers per toolchain, for tests and the status page.
    var idleCounts: [String: Int] { idle.mapValues(\.count) }

    /// At shutdown: waits for the resets, then removes every idle container; the next start removes the images.
    func drain() async {
        await resets.waitForAll()
        removeInBackground(containers: idle.values.flatMap { $0 })
        idle = [:]
        await removals.waitForAll()
    }

    /// Returns once every container given back has been reset, or removed.
    func settle() async {
        await resets.waitForAll()
        await removals.waitForAll()
    }

    private func pinImage(_ id: String, archivePath: String, onBuilt: (@Sendable (Duration) -> Void)?) async throws {
        while true {
            if images.pin(id) { return }
            if let running = building[id] {
                try await running.value
                continue
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: archivePath)[.size] as? UInt64) ?? 0
            let task = Task {
                let started = ContinuousClock.now
                try await backend.buildImage(id, archivePath: archivePath)
                onBuilt?(started.duration(to: .now))
                evict(images.insert(id, size: size))
            }
            building[id] = task
            defer { building[id] = nil }
            try await task.value
        }
    }

    private func evict(_ ids: [String]) {
        for id in ids { removeInBackground(containers: idle.removeValue(forKey: id) ?? [], imageOf: id) }
    }

    private func removeInBackground(containers: [String], imageOf archiveID: String? = nil) {
        guard !containers.isEmpty || archiveID != nil else { return }
        removals.start { [backend] in
            for container in containers { await backend.removeContainer(container) }
            if let archiveID { await backend.removeImage(of: archiveID) }
        }
    }
}
