import ArchiveKit
import BlockingPool
import BuilderCore
import CurlClient
import Foundation
import KilnProtocol
import SchedulerCore

/// Runs jobs on the farm's builders from inside the scheduler, as an sccache client would: `alloc_job` on its own
/// state, then `submit_toolchain` and `run_job` on the builder over HTTPS, trusting only its heartbeat's
/// certificate. A REAPI action travels this way, so it takes a slot in the same accounting as sccache's jobs
/// (status page, metrics, limits) and runs in the same sandboxes.
public struct FarmJobs: Sendable {
    let scheduler: Scheduler<ContinuousClock>
    let transport = CurlTransport()
    /// Kiln builders keep the connection for the next job: no TCP and TLS set-up per action.
    let peers = KeepAlivePeers(serverName: KilnServerName.value)
    /// Builders that refused a toolchain's platform lately: skipped for its next jobs.
    let refusedPlatforms = PlatformRefusals()
    /// How long a job waits for a free slot before it is given up (a REAPI action queues; it does not fail at once).
    let patience: Duration
    static let maxResultBytes = 3 << 30

    /// Runs `command` with `inputsTar` (an uncompressed tar of the job's files, paths relative to `/`) unpacked over
    /// the ``HostRootToolchain`` root of `containerImage` (nil: the builder's own); returns what the builder
    /// returned. Cancelling the task stops the job.
    public func run(command: CompileCommand, outputs: [String], inputsTar: [UInt8], containerImage: String? = nil) async throws -> JobComplete {
        let root = HostRootToolchain.archive(containerImage: containerImage)
        let toolchain = HostRootToolchain.toolchain(containerImage: containerImage)
        let header = try BincodeEncoder().encode(RunJobHttpRequest(command: command, outputs: outputs))
        let length = UInt32(header.count)
        // The protocol's body is a zlib stream; stored, not compressed (level 0): a REAPI action's input root is every
        // header it may include (~200 KB for a C file), which cost the scheduler ~3 ms of CPU per action to compress
        // at level 1, on the action's path, against well under that to carry inside a farm. Blocking C work all the
        // same: on the pool, while the job is being placed.
        async let compressed = BlockingWork.run { try ZlibDeflate.compress(inputsTar, level: 0) }
        let prefix = [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + header
        let deadline = ContinuousClock.now + patience
        var pause = Duration.milliseconds(50)
        var lost = 0
        // Builders that cannot give the job its platform (an overlay builder, an image its engine lacks): the job
        // goes to the others of a mixed farm, and fails with the last refusal only when none is left.
        var refusals: [ServerID: FarmJobError] = [:]
        var remembers = true
        while true {
            try Task.checkCancellation()
            let remembered = remembers ? refusedPlatforms.servers(refusing: toolchain.archiveID) : []
            let excluded = Set(refusals.keys).union(remembered)
            switch await scheduler.allocate(toolchain, kind: .remoteAction, excluding: excluded) {
            case .response(.success(let allocation)):
                do {
                    if let result = try await run(allocation, root: root, body: prefix + (try await compressed)) { return result }
                } catch let error as FarmJobError where error.code == .unsupportedPlatform {
                    refusals[allocation.jobAlloc.serverID] = error
                    refusedPlatforms.record(allocation.jobAlloc.serverID, refusing: toolchain.archiveID)
                    continue
                }
                lost += 1
                guard lost < 3 else { throw FarmJobError(.builderFailed, "three builders in a row lost the job before it ran; see their logs") }
            case .response(.fail(let message)), .failed(let message):
                if !excluded.isEmpty, await scheduler.serversBeside(excluded) == 0 {
                    // Every builder refused: those that did so earlier are asked again (they may have the image now).
                    if !remembered.isEmpty {
                        remembers = false
                        continue
                    }
                    if let refusal = refusals.values.first { throw refusal }
                }
                guard ContinuousClock.now + pause < deadline else {
                    throw FarmJobError(.noCapacity, "no builder took the job in \(patience): \(message); add builders or slots")
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    /// One placed job; nil when the builder no longer knows it (the caller places it again).
    private func run(_ allocation: AllocJobSuccess, root: [UInt8], body: [UInt8]) async throws -> JobComplete? {
        let (job, server) = (allocation.jobAlloc.jobID, allocation.jobAlloc.serverID)
        guard let certificate = await scheduler.certificate(of: server) else { return nil }
        func post(_ endpoint: String, _ body: [UInt8], timeout: Int) async throws -> [UInt8] {
            var request = HTTPRequest(
                method: .post, url: "https://\(server)/api/v1/distserver/\(endpoint)/\(job)",
                headers: [("Authorization", "Bearer \(allocation.jobAlloc.auth)"), ("Content-Type", "application/octet-stream")],
                body: body, timeoutSeconds: timeout, connectTimeoutSeconds: 5, maxResponseBytes: Self.maxResultBytes,
                pinnedCertificatePEM: certificate.certPEM)
            request.reusesConnection = peers.keepsAlive("\(server)")
            let response = try await transport.perform(request)
            peers.learn(from: response, of: "\(server)")
            guard response.status == 200 else { throw Self.failure(status: response.status, body: response.body, of: endpoint, on: server) }
            return response.body
        }
        if allocation.needToolchain {
            let submitted = try BincodeDecoder().decode(
                SubmitToolchainResult.self, from: try await post("submit_toolchain", root, timeout: 60))
            guard submitted == .success else { return nil }
        }
        // The builder bounds the job's own time ([job_limits] timeout); this only keeps a lost peer from holding on.
        switch try BincodeDecoder().decode(RunJobResult.self, from: try await post("run_job", body, timeout: 24 * 3600)) {
        case .complete(let result): return result
        case .jobNotFound: return nil
        }
    }

    /// What a builder's error answer says: it names the sandbox's error code only when the job itself caused it
    /// (`run build failed: timedOut: …`), and says nothing more of its own troubles.
    static func failure(status: Int, body: [UInt8], of endpoint: String, on server: ServerID) -> FarmJobError {
        let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        let description = json?["description"] as? String
        let text = description ?? String(decoding: body.prefix(300), as: UTF8.self)
        let message = "\(endpoint) on \(server) answered \(status): \(text)"
        guard let reason = description?.split(separator: ": ").dropFirst().first, description?.hasPrefix("run build failed: ") == true else {
            return FarmJobError(.builderFailed, message)
        }
        let codes: [Substring: FarmJobError.Code] = ["timedOut": .timedOut, "unsupportedPlatform": .unsupportedPlatform]
        return FarmJobError(codes[reason] ?? .refused, message)
    }
}
