import BuilderCore
import Logging
import Sandboxing
import ServiceLifecycle

/// Graceful drain on SIGTERM: the builder tells the scheduler it has no capacity (a heartbeat with no CPUs, at
/// once and then on its usual schedule), finishes the jobs it has (run_job requests in progress; assigned jobs
/// whose client has not come after a short grace are let go) within a deadline, and only then lets the HTTP server
/// and the other services stop. Run it in a service group after the application, so it is shut down first.
/// It sleeps until a job ends or the next deadline of ``DrainProgress`` comes, on `clock`.
public struct DrainService<C: Clock<Duration>>: Service {
    let server: BuildServer
    let deadline: Duration
    var assignedGrace: Duration = .seconds(10)
    let clock: C

    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return
        }
        server.beginDrain()
        await server.sandbox.stopWorkingAhead()
        let logger = server.logger
        let start = server.outstandingJobs()
        logger.info("draining: no new jobs; waiting for \(start.running) running and \(start.assigned) assigned (at most \(deadline))")
        do {
            try await server.heartbeat()
        } catch {
            logger.warning(
                "could not tell the scheduler about the drain; it stops sending jobs at the next heartbeat", metadata: ["error": "\(error)"])
        }
        let progress = DrainProgress<C>(started: clock.now, deadline: deadline, assignedGrace: assignedGrace)
        // Cancelled (the service group gave up waiting): stop draining rather than spin.
        while !Task.isCancelled {
            let seen = server.jobsChanged.generation
            let outstanding = server.outstandingJobs()
            switch progress.decide(running: outstanding.running, assigned: outstanding.assigned, now: clock.now) {
            case .wait: await waitForChange(past: seen, orUntil: progress.nextTimeToDecide(after: clock.now))
            case .drained:
                logger.info("drained: no job left; stopping")
                return
            case .deadlinePassed:
                logger.warning("drain deadline passed with \(outstanding.running) jobs running; stopping anyway")
                return
            }
        }
    }

    /// Returns when a job ends or is claimed, when `instant` comes, or when the task is cancelled.
    private func waitForChange(past seen: Int, orUntil instant: C.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await server.jobsChanged.wait(past: seen) }
            group.addTask { try? await clock.sleep(until: instant, tolerance: nil) }
            await group.next()
            group.cancelAll()
        }
    }
}
