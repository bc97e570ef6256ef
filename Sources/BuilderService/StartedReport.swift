import BuilderCore
import KilnProtocol
import Synchronization

/// A job's Started report. To sccache-dist's scheduler, or to a Kiln scheduler that has not announced
/// ``DeferredStartedReport``, it is sent as the run_job arrives and travels while the inputs are read; the compiler
/// waits for it, as upstream's server runs nothing before the scheduler has it. To a Kiln scheduler that announced
/// the extension it is sent only for a job still running after the deferral, if its run_job came right after its
/// assign_job; a shorter job's Complete says when it started instead: one request less per job for the scheduler.
final class StartedReport: Sendable {
    enum Outcome: Sendable {
        /// Sent: the result of its first try.
        case sent(Result<Void, any Error>)
        /// Not sent, the job having ended first: how long ago it started, for its Complete report.
        case skipped(ago: Duration)
    }

    private struct State {
        var sending: Task<Result<Void, any Error>, Never>?
        var skipped: Duration?
        var timer: Task<Void, Never>?
    }

    private let isDeferred: Bool
    private let begin = ContinuousClock.now
    private let state = Mutex(State())
    private let send: @Sendable (_ ago: Duration?) async -> Result<Void, any Error>

    init(server: BuildServer, job: JobID, timeline: TimelineRecorder) {
        isDeferred = server.link.defersStarted && server.wasAssigned(job, within: DeferredStartedReport.freshness)
        send = { [link = server.link] ago in
            await timeline.measure(.startedReport) {
                do {
                    try await link.reportJobState(job, .started, startedAgo: ago)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
        }
        if isDeferred {
            let timer = Task { [weak self] in
                try? await Task.sleep(for: DeferredStartedReport.deferral)
                self?.sendUnlessSkipped()
            }
            state.withLock { $0.timer = timer }
        } else {
            state.withLock { $0.sending = Task { [send] in await send(nil) } }
        }
    }

    /// What the compiler waits for: the report's first try, unless it is deferred. Throws when it failed.
    func beforeCompiler() async throws {
        guard !isDeferred, let sending = state.withLock({ $0.sending }) else { return }
        try await sending.value.get()
    }

    /// The report's fate, decided by the first call: a deferred report not on its way yet is never sent.
    func outcome() async -> Outcome {
        let (sending, skipped) = state.withLock { state -> (Task<Result<Void, any Error>, Never>?, Duration?) in
            if let sending = state.sending { return (sending, nil) }
            if state.skipped == nil {
                state.skipped = begin.duration(to: .now)
                state.timer?.cancel()
            }
            return (nil, state.skipped)
        }
        if let sending { return .sent(await sending.value) }
        return .skipped(ago: skipped ?? .zero)
    }

    private func sendUnlessSkipped() {
        state.withLock { state in
            guard state.sending == nil, state.skipped == nil else { return }
            let ago = begin.duration(to: .now)
            state.sending = Task { [send] in await send(ago) }
        }
    }
}
