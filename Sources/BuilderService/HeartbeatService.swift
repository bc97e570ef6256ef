import BuilderCore
import Logging
import ServiceLifecycle

/// Heartbeats the scheduler (protocol §2.4, §7.1) from the moment the HTTPS listener is up until graceful
/// shutdown: every 30 s, 10 s after a failure, on `clock`.
struct HeartbeatService<C: Clock<Duration>>: Service {
    let server: BuildServer
    let schedule: HeartbeatSchedule
    let clock: C
    /// Yields once when the listener accepts connections: the scheduler may call assign_job right after.
    let listening: AsyncStream<Void>

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var iterator = listening.makeAsyncIterator()
            _ = await iterator.next()
            var wasAccepted: Bool?
            while !Task.isCancelled {
                let accepted = await beat()
                if accepted != wasAccepted {
                    if accepted {
                        server.logger.info("registered with the scheduler", metadata: ["scheduler": "\(server.link.schedulerURL)"])
                    }
                    wasAccepted = accepted
                }
                try? await clock.sleep(for: schedule.delay(afterSuccess: accepted))
            }
        }
    }

    private func beat() async -> Bool {
        do {
            try await server.heartbeat()
            return true
        } catch {
            server.logger.warning("heartbeat failed; retrying", metadata: ["error": "\(error)"])
            return false
        }
    }
}
