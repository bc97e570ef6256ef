import BuilderCore
import KilnProtocol
import KilnTestSupport
import Testing

@Suite struct JobTableTests {
    let gcc = Toolchain(archiveID: String(repeating: "a", count: 64))
    let clang = Toolchain(archiveID: String(repeating: "b", count: 64))

    @Test func duplicateIdsReplaceInsteadOfCrashing() {
        let clock = ManualClock()
        var table = JobTable<ManualClock>(maxAge: .seconds(600))
        let firstReplaced = table.assign(JobID(7), toolchain: gcc, now: clock.now)
        #expect(!firstReplaced)
        let secondReplaced = table.assign(JobID(7), toolchain: clang, now: clock.now)
        #expect(secondReplaced, "upstream asserts here; Kiln replaces")
        #expect(table.toolchain(of: JobID(7)) == clang)
        #expect(table.count == 1)
    }

    @Test func aJobRunsOnlyOnce() {
        let clock = ManualClock()
        var table = JobTable<ManualClock>(maxAge: .seconds(600))
        table.assign(JobID(1), toolchain: gcc, now: clock.now)
        #expect(table.toolchain(of: JobID(1)) == gcc, "submit_toolchain looks without taking")
        let firstClaim = table.claim(JobID(1))
        #expect(firstClaim == gcc)
        let secondClaim = table.claim(JobID(1))
        #expect(secondClaim == nil, "a second run_job of the same id finds nothing")
        let unknownClaim = table.claim(JobID(2))
        #expect(unknownClaim == nil)
    }

    @Test func jobsNeverRunAreForgottenAfterMaxAge() {
        let clock = ManualClock()
        var table = JobTable<ManualClock>(maxAge: .seconds(600))
        table.assign(JobID(1), toolchain: gcc, now: clock.now)
        clock.advance(by: .seconds(300))
        table.assign(JobID(2), toolchain: gcc, now: clock.now)
        clock.advance(by: .seconds(300))
        let expiredAtMaxAge = table.expire(now: clock.now)
        #expect(expiredAtMaxAge.isEmpty, "exactly max age is still kept")
        clock.advance(by: .seconds(1))
        let expiredAfterMaxAge = table.expire(now: clock.now)
        #expect(expiredAfterMaxAge == [JobID(1)])
        #expect(table.toolchain(of: JobID(2)) == gcc)
    }

    @Test func heartbeatsEvery30SecondsAnd10AfterAnError() {
        let schedule = HeartbeatSchedule()
        #expect(schedule.delay(afterSuccess: true) == .seconds(30))
        #expect(schedule.delay(afterSuccess: false) == .seconds(10))
    }
}
