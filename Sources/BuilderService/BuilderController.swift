import ArchiveKit
import BuilderCore
import Foundation
import Hummingbird
import KilnErrors
import KilnProtocol
import Logging
import ServiceSupport
import ToolchainStore
import WireStreams

/// The three build-server endpoints of protocol §2.6–2.8, with upstream's answers. Token failures are 401 (the
/// compile must fail: the request is not from this farm); every problem of the farm's own is a 500 or a
/// `JobNotFound`/`CannotCache`, so the client compiles locally.
struct BuilderController: Sendable {
    let server: BuildServer

    static let maxAssignBody = 1 << 16

    func register(on router: Router<KilnRequestContext>) {
        let api = router.group("api/v1/distserver")
        api.post("assign_job/:job") { request, context in try await withJob(request, context, assignJob) }
        api.post("submit_toolchain/:job") { request, context in try await withJob(request, context, submitToolchain) }
        api.post("run_job/:job") { request, context in
            try await withJob(request, context) { job, request in
                try await server.countingRunJob { try await RunJob(server: server)(job, request, context) }
            }
        }
    }

    /// Parses the job id (an unparsable one is an empty 404, like an unknown route) and checks the job token.
    private func withJob(
        _ request: Request, _ context: KilnRequestContext, _ handler: (JobID, Request) async throws -> Response
    ) async throws -> Response {
        guard let text = context.parameters.get("job"), let raw = UInt64(text) else {
            return WireHTTP.response(.notFound, body: [], type: nil)
        }
        let job = JobID(raw)
        if let reason = await server.rejection(ofToken: WireHTTP.bearerToken(request), for: job) {
            return WireHTTP.unauthorized("invalid_jwt", body: reason, json: true)
        }
        return try await handler(job, request)
    }

    /// While draining the job is refused with a 503: the scheduler gives it to another server or tells the client
    /// to compile locally.
    private func assignJob(_ job: JobID, _ incoming: Request) async throws -> Response {
        var request = incoming
        if server.isDraining {
            await drain(request)
            return WireHTTP.error(.serviceUnavailable, "this build server is draining and takes no new jobs")
        }
        switch try await WireHTTP.decodeBody(Toolchain.self, &request, limit: Self.maxAssignBody) {
        case .proceed(let toolchain): return try WireHTTP.ok(await server.assign(job, toolchain: toolchain), for: request)
        case .respond(let response): return response
        }
    }

    private func submitToolchain(_ job: JobID, _ request: Request) async throws -> Response {
        do {
            try await server.link.reportJobState(job, .ready)
        } catch {
            server.logger.error("job_state Ready failed", metadata: ["job": "\(job)", "error": "\(KilnErrorLog.text(error))"])
            await drain(request)
            return WireHTTP.error(.internalServerError, "failed to update the job state")
        }
        guard let toolchain = server.toolchain(of: job) else {
            await drain(request)
            return try WireHTTP.ok(SubmitToolchainResult.jobNotFound, for: request)
        }
        if await server.archives.contains(toolchain.archiveID) {
            await drain(request)
            return try WireHTTP.ok(SubmitToolchainResult.success, for: request)
        }
        let upload: ToolchainUpload
        do {
            upload = try await server.archives.beginUpload(of: toolchain.archiveID)
        } catch {
            server.logger.error("toolchain upload refused", metadata: ["job": "\(job)", "error": "\(error)"])
            await drain(request)
            return try WireHTTP.ok(SubmitToolchainResult.cannotCache, for: request)
        }
        let stored = await store(upload, from: request, as: toolchain.archiveID, job: job)
        // Stored or not: the builds that waited for this upload go on (without the archive they fail over locally).
        await server.archives.uploadEnded(toolchain.archiveID)
        return try WireHTTP.ok(stored ? SubmitToolchainResult.success : .cannotCache, for: request)
    }

    /// Reads the body into `upload` and commits it as `archiveID`; false (logged) when that fails.
    private func store(_ upload: ToolchainUpload, from request: Request, as archiveID: String, job: JobID) async -> Bool {
        do {
            for try await buffer in request.body {
                buffer.withUnsafeReadableBytes { upload.write($0) }
            }
            try await server.archives.commit(try upload.finish(), as: archiveID)
            server.logger.debug("toolchain stored", metadata: ["job": "\(job)", "toolchain": "\(archiveID)"])
            return true
        } catch {
            server.logger.error("toolchain upload refused", metadata: ["job": "\(job)", "error": "\(error)"])
            return false
        }
    }

    /// Reads a body nobody has started reading, so that a streaming client is not cut off mid-upload.
    private func drain(_ request: Request) async { await WireHTTP.drain(request) }
}
