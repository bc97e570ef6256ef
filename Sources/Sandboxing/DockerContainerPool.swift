import BuilderCore
import DockerEngine
import Foundation
import KilnProtocol

/// The docker sandbox's images and containers: one image per toolchain (the base image plus the unpacked
/// toolchain), and per image a pool of idle, started containers.
///
/// An image is built once, shared by concurrent first jobs, pinned while a container made from it is leased, and
/// evicted least recently used first once the archive bytes of the images exceed the budget; evicting an image
/// removes its idle containers. Engine calls run outside the actor's state changes, so jobs on different
/// toolchains never wait on each other.
actor DockerContainerPool {
    /// A container for one job, from the image of `archiveID`. Give it back with ``giveBack(_:reusable:)``.
    struct Lease: Sendable {
        let archiveID: String
        let containerID: String
    }

    private let engine: DockerEngineClient
    private let settings: DockerSandboxSettings
    private var images: LRUIndex<String>
    private var building: [String: Task<Void, any Error>] = [:]
    private var idle: [String: [String]] = [:]
    /// Containers being reset, and jobs waiting for one of them, per toolchain.
    private var resetting: [String: Int] = [:]
    private var waiters: [String: [CheckedContinuation<String?, Never>]] = [:]

    init(engine: DockerEngineClient, settings: DockerSandboxSettings, budget: UInt64) {
        self.engine = engine
        self.settings = settings
        images = LRUIndex(capacity: budget)
    }

    /// A started container with the toolchain in it: an idle one when there is one, else a new one (building the
    /// toolchain's image first when needed).
    func acquire(_ toolchain: Toolchain, archivePath: String) async throws -> Lease {
        let id = toolchain.archiveID
        guard toolchain.isWellFormed else { throw SandboxError(.setup, "'\(id)' is not a toolchain archive id") }
        try await pinImage(id, archivePath: archivePath)
        if let container = idle[id]?.popLast() { return Lease(archiveID: id, containerID: container) }
        if resetting[id, default: 0] > waiters[id, default: []].count {
            // A container being reset comes back sooner than a new one starts.
            let handed = await withCheckedContinuation { waiters[id, default: []].append($0) }
            if let handed { return Lease(archiveID: id, containerID: handed) }
        }
        do {
            let container = try await engine.createContainer(
                ContainerConfig(
                    image: image(of: id), command: DockerSandboxSettings.idleCommand,
                    labels: settings.labels(forToolchain: id),
                    hostConfig: settings.hostConfiguration))
            do { try await engine.startContainer(container) } catch {
                try? await engine.removeContainer(container)
                throw error
            }
            return Lease(archiveID: id, containerID: container)
        } catch {
            evict(images.unpin(id))
            throw SandboxError(.setup, "cannot start a container for toolchain \(id)", cause: "\(error)")
        }
    }

    /// Marks a container whose job is done as being reset; call ``giveBack(_:reusable:)`` when the reset ends.
    func beginReset(_ lease: Lease) {
        resetting[lease.archiveID, default: 0] += 1
    }

    /// Returns a container after its reset: handed to a waiting job, or kept idle when there is room, when it was
    /// reset cleanly; removed otherwise (and a waiting job then starts a new one).
    func giveBack(_ lease: Lease, reusable: Bool) {
        let id = lease.archiveID
        resetting[id, default: 1] -= 1
        let waiter = waiters[id]?.isEmpty == false ? waiters[id]?.removeFirst() : nil
        if reusable, images.contains(id), let waiter {
            waiter.resume(returning: lease.containerID)  // the waiter holds its own pin on the image
        } else if reusable, images.contains(id), idle[id, default: []].count < settings.idleContainersPerToolchain {
            idle[id, default: []].append(lease.containerID)
        } else {
            removeInBackground(containers: [lease.containerID])
            waiter?.resume(returning: nil)
        }
        evict(images.unpin(id))
    }

    /// Idle containers per toolchain, for tests and the status page.
    var idleCounts: [String: Int] { idle.mapValues(\.count) }

    /// Removes every idle container (at shutdown); leased ones are removed as they come back.
    func drain() async {
        let all = idle.values.flatMap { $0 }
        idle = [:]
        for container in all { try? await engine.removeContainer(container) }
    }

    private func pinImage(_ id: String, archivePath: String) async throws {
        while true {
            if images.pin(id) { return }
            if let running = building[id] {
                try await running.value
                continue
            }
            let task = Task { try await self.build(id, archivePath: archivePath) }
            building[id] = task
            defer { building[id] = nil }
            try await task.value
        }
    }

    /// Base image + toolchain archive (the engine unpacks the .tar.gz itself) → committed image.
    private func build(_ id: String, archivePath: String) async throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: archivePath)[.size] as? UInt64) ?? 0
        do {
            let builder = try await engine.createContainer(
                ContainerConfig(
                    image: settings.baseImage, command: [DockerSandboxSettings.busybox, "true"], labels: settings.labels,
                    hostConfig: settings.hostConfiguration))
            do {
                try await engine.putArchive(container: builder, directory: "/", tarFile: archivePath, copyOwners: false, timeout: 600)
                try await engine.commit(
                    container: builder, repository: DockerSandboxSettings.imageRepository, tag: settings.imageTag(of: id),
                    labels: settings.labels(forToolchain: id),
                    command: DockerSandboxSettings.idleCommand)
            } catch {
                try? await engine.removeContainer(builder)
                throw error
            }
            try? await engine.removeContainer(builder)
        } catch {
            throw SandboxError(.setup, "cannot build the image of toolchain \(id) on \(settings.baseImage)", cause: "\(error)")
        }
        evict(images.insert(id, size: size))
    }

    private func evict(_ ids: [String]) {
        for id in ids {
            removeInBackground(containers: idle.removeValue(forKey: id) ?? [], image: image(of: id))
        }
    }

    private func removeInBackground(containers: [String], image: String? = nil) {
        let engine = engine
        Task.detached {
            for container in containers { try? await engine.removeContainer(container) }
            if let image { try? await engine.removeImage(image) }
        }
    }

    private func image(of id: String) -> String { "\(DockerSandboxSettings.imageRepository):\(settings.imageTag(of: id))" }
}
