import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

/// Issue 20, item 4, through the real endpoints: clients that die between alloc_job and run_job once filled the
/// farm for good ("insufficient capacity" with an idle builder). With `unstarted_job_timeout` their slots come back,
/// and the token of a reaped job no longer runs anything.
@Suite(.serialized, .requires(Binaries.missingPrerequisite)) struct JobReapingEndToEndTests {
    static func jobsInFlight(_ farm: Farm) -> Int? {
        guard let text = farm.get(farm.schedulerURL + "/api/v1/kiln/status"),
            let status = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return nil }
        return status["jobsInFlight"] as? Int
    }

    @Test func allocationsNobodyRunsGiveTheirSlotsBack() throws {
        let bench = try HostileBench(try BuilderEndpointTests.Probe(maxJobs: 2, schedulerSettings: "unstarted_job_timeout = 3"))
        let farm = bench.probe.farm
        // Clients that allocate (and upload) and then die: the farm fills up.
        var abandoned = [try bench.allocate()]
        var refusal: String?
        while abandoned.count < 20, refusal == nil {
            switch try bench.probe.allocation(bench.toolchain) {
            case .success(let job): abandoned.append(job.jobAlloc)
            case .fail(let message): refusal = message
            }
        }
        #expect(abandoned.count < 20, "the builder's slots are bounded")
        #expect(refusal?.contains("Insufficient capacity") == true, "\(String(describing: refusal))")
        try farm.waitFor("the abandoned jobs to be reaped", seconds: 20) { Self.jobsInFlight(farm) == 0 }
        // The reaped job's token: the builder may still hold the job, but the scheduler refuses its Started report,
        // so it runs nothing and the client compiles locally (a 5xx, never a 4xx).
        let reaped = try bench.run("echo ran > out", outputs: ["out"], job: abandoned[0])
        #expect(reaped.result == nil && reaped.status == 500, "a reaped job's token runs nothing: \(reaped.summary)")
        #expect(bench.servesAPlainJob(), "a new job is placed and runs once the slots are back")
        let status = farm.get(farm.schedulerURL + "/api/v1/kiln/status") ?? ""
        #expect(status.contains("dropped unfinished"), "the status page says jobs were dropped: \(status)")
    }
}
