import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// SIGTERM drains a builder: it takes no new job, finishes the job it is running, then exits 0. Kiln's scheduler
/// sees it report no CPUs; the real sccache-dist scheduler refuses such a heartbeat, so there the builder keeps
/// its registration and refuses assign_job instead.
@Suite(.serialized, .requires(SecurityTests.skipReason(.overlay))) struct DrainEndToEndTests {
    @Test(arguments: [false, true]) func aDrainedBuilderFinishesItsRunningJobAndExitsZero(sccacheDistScheduler: Bool) throws {
        let bench = try HostileBench(try BuilderEndpointTests.Probe(sccacheDistScheduler: sccacheDistScheduler))
        let farm = bench.probe.farm
        let marker = "kiln-drain-\(UUID().uuidString.prefix(8))"
        let job = try bench.allocate()
        let answer = Mutex<HostileBench.Answer?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = try? bench.run("busybox sleep 5 # \(marker)\necho finished > out.o", outputs: ["out.o"], job: job)
            answer.withLock { $0 = result }
            finished.signal()
        }
        try farm.waitFor("the job to run") { !HostileBench.survivors(holding: marker, seconds: 0).isEmpty }
        kill(bench.probe.builder.pid, SIGTERM)
        if sccacheDistScheduler {
            try farm.waitFor("the builder to fall back to refusing assign_job") { bench.probe.builder.log.contains("refusing assign_job") }
        } else {
            try farm.waitFor("the draining builder to report no capacity") { try farm.status()?.cpus == 0 }
        }
        #expect(try farm.status()?.servers == 1, "it stays registered while it drains")
        #expect((try? bench.probe.allocate(bench.toolchain)) == nil, "no new job goes to a draining builder")
        let status = bench.probe.builder.exitStatus(waitingSeconds: 60)
        finished.wait()
        let result = answer.withLock { $0 }
        #expect(result?.exitCode == 0 && result?.text.contains("finished") == true, "the running job completed: \(String(describing: result))")
        #expect(status == 0, "the builder exits 0 once drained\n\(bench.probe.builder.log.suffix(3000))")
        #expect(bench.probe.builder.log.contains("drained"))
    }
}
