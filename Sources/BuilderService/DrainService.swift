import BuilderCore
import Logging
import Sandboxing
import ServiceLifecycle

/// Graceful drain on SIGTERM: the builder tells the scheduler it has no capacity (a heartbeat with no CPUs, at
/// once and then on its usual schedule), finishes the jobs it has (run_job requests in progress; assigned jobs
/// whose client has not come after a short grace are let go) within a deadline, and only then lets the HTTP server
/// and the other services stop. Run it in a service group after the application, so it is shut down first.
public struct DrainService: Service {
    let server: BuildServer
    let deadline: Duration
    var assignedGrace: Duration = .seconds(10)

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
        let progress = DrainProgress<ContinuousClock>(started: .now, deadline: deadline, assignedGrace: assignedGrace)
        while true {
            let outstanding = server.outstandingJobs()
            switch progress.decide(running: outstanding.running, assigned: outstanding.assigned, now: .now) {
            case .wait: try? await Task.sleep(for: .milliseconds(100))
            case .drained:
                logger.info("drained: no job left; stopping")
                return
            case .deadlinePassed:
                logger.warning("drain deadline passed with \(outstanding.running) jobs running; stopping anyway")
                return
            }
        }
    }
}
