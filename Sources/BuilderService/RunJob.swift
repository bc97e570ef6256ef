import ArchiveKit
import BuilderCore
import Foundation
import Hummingbird
import KilnErrors
import KilnMetrics
import KilnProtocol
import Logging
import ResultCache
import Sandboxing
import ServiceSupport
import WireStreams

/// run_job (protocol §2.8), from the request to the answer: the one owner of the use case. The body is read
/// while the scheduler is told the job Started (upstream does these one after the other); the result comes from
/// the result cache, an identical running job, or the sandbox in a slot; Complete is reported as the compiler ends
/// (``CompleteReport``), and always before the answer.
/// Every phase is timed (``JobTimeline``), exported as histograms and logged per job at debug level.
struct RunJob: Sendable {
    let server: BuildServer

    static let maxRunJobHeader = 64 << 20
    static let maxInputBytes: UInt64 = 2 << 30

    /// The build stops (its processes killed, its sandbox cleaned) when the client disconnects.
    func callAsFunction(_ job: JobID, _ request: Request, _ context: KilnRequestContext) async throws -> Response {
        let timeline = TimelineRecorder()
        defer {
            server.metrics.record(timeline.value)
            server.logger.debug("job timeline", metadata: ["job": "\(job)", "phases": "\(timeline.value.summary)"])
        }
        // A job this server no longer holds (never assigned, already run, expired) is answered before its body is
        // read: a replayed or stale token must not make the server spool up to 2 GiB for nothing.
        guard server.toolchain(of: job) != nil else { return try WireHTTP.ok(RunJobResult.jobNotFound, for: request) }
        let spool = server.spoolPath(for: job)
        defer { unlink(spool) }
        // The Started report needs nothing from the body: it travels while the inputs arrive and the sandbox is set
        // up, or later, deferred (``StartedReport``).
        let started = StartedReport(server: server, job: job, timeline: timeline)
        let complete = CompleteReport(server: server, job: job, started: started, timeline: timeline)
        let inputs: Result<(RunJobHttpRequest, [UInt8]?, [UInt8]?), any Error>
        do {
            inputs = .success(try await timeline.measure(.requestRead) { try await spoolInputs(request, to: spool, digest: server.results != nil) })
        } catch {
            inputs = .failure(error)
        }
        let (runRequest, inputsDigest, inputsTar): (RunJobHttpRequest, [UInt8]?, [UInt8]?)
        switch inputs {
        case .success(let read): (runRequest, inputsDigest, inputsTar) = read
        case .failure(let error):
            // A malformed body is the client's own fault, whatever the scheduler said. Unless Started failed, the
            // scheduler must hear Complete, or it counts the job against this server until its lease ends.
            _ = await complete.delivered()
            server.logger.debug("run_job body refused", metadata: ["job": "\(job)", "error": "\(KilnErrorLog.text(error))"])
            return WireHTTP.error(.badRequest, "error while parsing the run_job body")
        }
        guard let toolchain = server.claim(job) else { return try WireHTTP.ok(RunJobResult.jobNotFound, for: request) }
        let result: JobComplete
        do {
            result = try await context.cancellingOnDisconnect { [server] in
                try await JobBuild(server: server, timeline: timeline, onCompilerEnd: complete.send, beforeCompiler: started.beforeCompiler)
                    .run(
                        job, toolchain: toolchain, request: runRequest, inputs: (spool, inputsTar), inputsDigest: inputsDigest)
            }
        } catch {
            if let refused = await startedFailure(started, job: job) { return refused }
            server.logger.error("build failed", metadata: ["job": "\(job)", "error": "\(KilnErrorLog.text(error))"])
            // Reported all the same: the scheduler counts a Started job against this server until it completes.
            _ = await complete.delivered()
            // The client hears why only when its own job caused it; the builder's troubles stay in its log.
            let reason = (error as? SandboxError).flatMap { $0.isTheJobsOwnDoing ? ": \($0.code): \($0.message)" : nil }
            return WireHTTP.error(.internalServerError, "run build failed" + (reason ?? ""))
        }
        // A result served without a compiler of this job's own (the cache, an identical job) did not wait for it.
        if let refused = await startedFailure(started, job: job) { return refused }
        server.logger.debug("job complete", metadata: ["job": "\(job)", "code": "\(result.output.code)", "outputs": "\(result.outputs.count)"])
        // Encoded while the report may still be on its way.
        let answer = Result { try timeline.measure(.responseEncode) { try WireHTTP.ok(RunJobResult.complete(result), for: request) } }
        // sccache-dist answers a 500 when this report fails, throwing the finished build away; the report is
        // retried in the background instead and the client gets its result.
        if !(await complete.delivered()) {
            server.logger.warning("job_state Complete failed; retrying in the background", metadata: ["job": "\(job)"])
        }
        return try answer.get()
    }

    /// sccache-dist's answer when the Started report failed: a 500, and no Complete after it. Nil when it went through
    /// or was not sent.
    private func startedFailure(_ started: StartedReport, job: JobID) async -> Response? {
        guard case .sent(.failure(let error)) = await started.outcome() else { return nil }
        server.logger.error("job_state Started failed", metadata: ["job": "\(job)", "error": "\(KilnErrorLog.text(error))"])
        return WireHTTP.error(.internalServerError, "failed to update the job state")
    }

    /// Streams the body: the header is decoded as soon as it is complete, the inflated inputs tar goes to an
    /// ``InputsSpool`` (returned when it stayed in memory, else in the file at `path`) and, with `digest`, into
    /// the ``InputsTarDigest`` of the result cache key.
    /// After a bad chunk the rest of the body is still read (and dropped), so the client sees the 400.
    private func spoolInputs(_ request: Request, to path: String, digest: Bool) async throws -> (RunJobHttpRequest, [UInt8]?, [UInt8]?) {
        let reader = try RunJobBodyReader(maxHeaderBytes: Self.maxRunJobHeader, maxInputBytes: Self.maxInputBytes)
        let spool = InputsSpool(path: path)
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
                            try spool.write($0)
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
        let held = try spool.finish()
        guard let header else { throw WireStreamError(.badHeader, "the body ended before its RunJobHttpRequest") }
        return (header, inputsDigest?.finalize(), held)
    }
}
