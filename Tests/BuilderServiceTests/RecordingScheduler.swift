import BuilderCore
import KilnProtocol
import Synchronization

@testable import BuilderService

/// The scheduler as the build server sees it, in-process: it records every heartbeat and job_state report and
/// can be told to fail them. Tests wait on ``changed`` rather than on time.
final class RecordingScheduler: SchedulerReporting {
    struct Refused: Error {}

    let schedulerURL = "http://scheduler.invalid"
    let reports = Mutex<[(job: JobID, state: JobState)]>([])
    /// `num_cpus` of each heartbeat, in order.
    let heartbeats = Mutex<[Int]>([])
    /// Heartbeats tried, accepted or not.
    let heartbeatAttempts = Mutex(0)
    /// While true, every call throws (a scheduler that is down).
    let failing = Mutex(false)
    /// job_state reports of these states throw.
    let refusedStates = Mutex<Set<JobState>>([])
    let changed = ChangeSignal()

    func heartbeat(_ request: HeartbeatServerHttpRequest) async throws -> Bool {
        defer { changed.notify() }
        heartbeatAttempts.withLock { $0 += 1 }
        if failing.withLock({ $0 }) { throw Refused() }
        return heartbeats.withLock { beats in
            beats.append(request.numCPUs)
            return beats.count == 1
        }
    }

    /// Whether it announces ``DeferredStartedReport``, as Kiln's scheduler does.
    let defers = Mutex(false)
    /// Every job_state report tried, accepted or not.
    let attempted = Mutex<[(job: JobID, state: JobState)]>([])
    /// The `startedAgo` of each report that carried one.
    let startedAgos = Mutex<[(job: JobID, state: JobState, ago: Duration)]>([])

    var defersStarted: Bool { defers.withLock { $0 } }

    func reportJobState(_ job: JobID, _ state: JobState, startedAgo: Duration?) async throws {
        defer { changed.notify() }
        attempted.withLock { $0.append((job, state)) }
        if failing.withLock({ $0 }) || refusedStates.withLock({ $0.contains(state) }) { throw Refused() }
        reports.withLock { $0.append((job, state)) }
        if let startedAgo { startedAgos.withLock { $0.append((job, state, startedAgo)) } }
    }

    func states(of job: JobID) -> [JobState] { reports.withLock { $0.filter { $0.job == job }.map(\.state) } }

    /// Waits until `condition` holds; every call of the server notifies.
    func wait(until condition: @Sendable () -> Bool) async { await changed.wait(until: condition) }
}
