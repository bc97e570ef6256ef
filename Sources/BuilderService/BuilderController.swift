import ArchiveKit
import BuilderCore
import Foundation
import Hummingbird
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
    static let maxRunJobHeader = 64 << 20
    static let maxInputBytes: UInt64 = 2 << 30

    func register(on router: Router<KilnRequestContext>) {
        let api = router.group("api/v1/distserver")
        api.post("assign_job/:job") { request, context in try await withJob(request, context, assignJob) }
        api.post("submit_toolchain/:job") { request, context in try await withJob(request, context, submitToolchain) }
        api.post("run_job/:job") { request, context in
            try await withJob(request, context) { job, request in
                try await server.countingRunJob { try await runJob(job, request, context) }
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
            server.logger.error("job_state Ready failed", metadata: ["job": "\(job)", "error": "\(error)"])
            await drain(request)
            return WireHTTP.error(.internalServerError, "failed to update the job state", cause: "\(error)")
        }
        guard let toolchain = server.toolchain(of: job) else {
            await drain(request)
            return try WireHTTP.ok(SubmitToolchainResult.jobNotFound, for: request)
        }
        if await server.archives.contains(toolchain.archiveID) {
            await drain(request)
            return try WireHTTP.ok(SubmitToolchainResult.success, for: request)
        }
        var bodyRead = false
        do {
            let upload = try await server.archives.beginUpload()
            bodyRead = true
            for try await buffer in request.body {
                buffer.withUnsafeReadableBytes { upload.write($0) }
            }
            try await server.archives.commit(try upload.finish(), as: toolchain.archiveID)
            server.logger.debug("toolchain stored", metadata: ["job": "\(job)", "toolchain": "\(toolchain.archiveID)"])
            return try WireHTTP.ok(SubmitToolchainResult.success, for: request)
        } catch {
            server.logger.error("toolchain upload refused", metadata: ["job": "\(job)", "error": "\(error)"])
            if !bodyRead { await drain(request) }
            return try WireHTTP.ok(SubmitToolchainResult.cannotCache, for: request)
        }
    }

    /// The build stops (its processes killed, its sandbox cleaned) when the client disconnects.
    private func runJob(_ job: JobID, _ request: Request, _ context: KilnRequestContext) async throws -> Response {
        let spool = server.spoolPath(for: job)
        defer { unlink(spool) }
        let runRequest: RunJobHttpRequest
        let inputsDigest: [UInt8]?
        do {
            (runRequest, inputsDigest) = try await spoolInputs(request, to: spool, digest: server.results != nil)
        } catch {
            return WireHTTP.error(.badRequest, "error while parsing the run_job body", cause: "\(error)")
        }
        do {
            try await server.link.reportJobState(job, .started)
        } catch {
            server.logger.error("job_state Started failed", metadata: ["job": "\(job)", "error": "\(error)"])
            return WireHTTP.error(.internalServerError, "failed to update the job state", cause: "\(error)")
        }
        guard let toolchain = server.claim(job) else { return try WireHTTP.ok(RunJobResult.jobNotFound, for: request) }
        let result: JobComplete
        do {
            result = try await context.cancellingOnDisconnect { [server] in
                try await server.build(job, toolchain: toolchain, request: runRequest, inputsTarPath: spool, inputsDigest: inputsDigest)
            }
        } catch {
            server.logger.error("build failed", metadata: ["job": "\(job)", "error": "\(error)"])
            // Reported all the same: the scheduler counts a Started job against this server until it completes.
            try? await server.link.reportJobState(job, .complete)
            return WireHTTP.error(.internalServerError, "run build failed", cause: "\(error)")
        }
        server.logger.debug("job complete", metadata: ["job": "\(job)", "code": "\(result.output.code)", "outputs": "\(result.outputs.count)"])
        do {
            try await server.link.reportJobState(job, .complete)
        } catch {
            server.logger.error("job_state Complete failed", metadata: ["job": "\(job)", "error": "\(error)"])
            return WireHTTP.error(.internalServerError, "failed to update the job state", cause: "\(error)")
        }
        return try WireHTTP.ok(RunJobResult.complete(result), for: request)
    }

    /// Streams the body: the header is decoded as soon as it is complete, the inflated inputs tar goes to `path`
    /// (and, with `digest`, into the ``InputsTarDigest`` of the result cache key).
    /// After a bad chunk the rest of the body is still read (and dropped), so the client sees the 400.
    private func spoolInputs(_ request: Request, to path: String, digest: Bool) async throws -> (RunJobHttpRequest, [UInt8]?) {
        let reader = try RunJobBodyReader(maxHeaderBytes: Self.maxRunJobHeader, maxInputBytes: Self.maxInputBytes)
        let file = try FileWriter(path: path)
        var header: RunJobHttpRequest?
        var inputsDigest = digest ? InputsTarDigest() : nil
        var failure: (any Error)?
        var discarded = 0
        for try await buffer in request.body {
            guard failure == nil else {
                discarded += buffer.readableBytes
                if discarded > WireHTTP.maxDiscardedBytes { break }
                continue
            }
            do {
                let decoded = try buffer.withUnsafeReadableBytes { chunk in
                    try reader.consume(
                        chunk,
                        tarSink: {
                            try file.write($0)
                            inputsDigest?.update($0)
                        })
                }
                if let decoded { header = decoded }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try reader.finish()
        try file.close()
        guard let header else { throw WireStreamError(.badHeader, "the body ended before its RunJobHttpRequest") }
        return (header, inputsDigest?.finalize())
    }

    /// Reads a body nobody has started reading, so that a streaming client is not cut off mid-upload.
    private func drain(_ request: Request) async { await WireHTTP.drain(request) }
}
