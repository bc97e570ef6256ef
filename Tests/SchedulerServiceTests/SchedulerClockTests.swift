import KilnConfiguration
import KilnMetrics
import KilnProtocol
import KilnTestSupport
import Logging
import Testing

@testable import SchedulerService

/// The scheduler actor reads the clock it is given: a server that stops heartbeating loses its jobs after
/// `heartbeatMissed`, tested by advancing a manual clock rather than by waiting.
@Suite struct SchedulerClockTests {
    @Test func aSilentServerGetsNoJobsOnceItsHeartbeatIsMissed() async throws {
        let clock = ManualClock()
        let configuration = SchedulerConfiguration(
            publicAddress: ServerID("127.0.0.1:0")!, clientAuth: .token("cli"), serverAuth: .token("srv"), trustedProxies: [],
            assignJobTimeoutSeconds: 3)
        let scheduler = try Scheduler(configuration: configuration, logger: Logger(label: "test"), metrics: SchedulerMetrics(), clock: clock)
        let server = ServerID("127.0.0.1:9")!  // nothing listens there: an assign_job would fail, not answer Fail
        let heartbeat = try BincodeDecoder().decode(HeartbeatServerHttpRequest.self, from: try SchedulerEndpointTests.heartbeat())
        #expect(await scheduler.heartbeat(from: server, heartbeat)?.isNew == true)
        let toolchain = Toolchain(archiveID: String(repeating: "ab", count: 32))
        guard case .failed = await scheduler.allocate(toolchain) else {
            Issue.record("a fresh server is tried (its assign_job fails)")
            return
        }
        _ = await scheduler.heartbeat(from: server, heartbeat)  // heard again: no longer unreachable
        clock.advance(by: .seconds(46))
        guard case .response(.fail(let message)) = await scheduler.allocate(toolchain) else {
            Issue.record("a server silent for 46 s must get no job")
            return
        }
        #expect(message.contains("capacity"), "\(message)")
    }
}
