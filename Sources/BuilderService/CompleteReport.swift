import BuilderCore
import KilnProtocol
import Synchronization

/// A job's Complete report, sent once: as soon as its compiler ends, so that it travels while the outputs are read
/// and stored, or just before the answer for a result that ran no compiler here. Either way the scheduler hears
/// Complete before the client gets its answer, as with sccache-dist, and the answer does not wait for a round trip
/// to the scheduler after the build. It follows the job's Started report (``StartedReport``), or says when the job
/// started if that was never sent; after a Started report that failed, none is sent, as with sccache-dist.
final class CompleteReport: Sendable {
    private let server: BuildServer
    private let job: JobID
    private let started: StartedReport
    private let timeline: TimelineRecorder
    private let sending = Mutex<Task<Bool, Never>?>(nil)

    init(server: BuildServer, job: JobID, started: StartedReport, timeline: TimelineRecorder) {
        self.server = server
        self.job = job
        self.started = started
        self.timeline = timeline
    }

    /// Starts sending the report, unless it is on its way already. Not cancelled with the request: the scheduler
    /// must hear Complete even when the client has gone.
    func send() {
        sending.withLock { task in
            guard task == nil else { return }
            task = Task { [server, job, started, timeline] in
                let startedAgo: Duration?
                switch await started.outcome() {
                case .sent(.failure): return false
                case .sent(.success): startedAgo = nil
                case .skipped(let ago): startedAgo = ago
                }
                return await timeline.measure(.completeReport) { await server.reportComplete(job, startedAgo: startedAgo) }
            }
        }
    }

    /// Sends the report if that has not begun, and waits for its first try: false when that failed (it is then
    /// retried in the background).
    func delivered() async -> Bool {
        send()
        guard let task = sending.withLock({ $0 }) else { return false }
        return await task.value
    }
}
