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
        let value1 = table.assign(JobID(7), toolchain: gcc, now: clock.now)
        #expect(!value1)
        let value2 = table.assign(JobID(7), toolchain: clang, now: clock.now)
        #expect(value2, "upstream asserts here; Kiln replaces")
        #expect(table.toolchain(of: JobID(7)) == clang)
        #expect(table.count == 1)
    }

    @Test func aJobRunsOnlyOnce() {
        let clock = ManualClock()
        var table = JobTable<ManualClock>(maxAge: .seconds(600))
        table.assign(JobID(1), toolchain: gcc, now: clock.now)
        #expect(table.toolchain(of: JobID(1)) == gcc, "submit_toolchain looks without taking")
        let value3 = table.claim(JobID(1))
        #expect(value3 == gcc)
        let value4 = table.claim(JobID(1))
        #expect(value4 == nil, "a second run_job of the same id finds nothing")
        let value5 = table.claim(JobID(2))
        #expect(value5 == nil)
    }

    @Test func jobsNeverRunAreForgottenAfterMaxAge() {
        let clock = ManualClock()
        var table = JobTable<ManualClock>(maxAge: .seconds(600))
        table.assign(JobID(1), toolchain: gcc, now: clock.now)
        clock.advance(by: .seconds(300))
        table.assign(JobID(2), toolchain: gcc, now: clock.now)
        clock.advance(by: .seconds(300))
        let value6 = table.expire(now: clock.now)
        #expect(value6.isEmpty, "exactly max age is still kept")
        clock.advance(by: .seconds(1))
        let value7 = table.expire(now: clock.now)
        #expect(value7 == [JobID(1)])
        #expect(table.toolchain(of: JobID(2)) == gcc)
    }

    @Test func heartbeatsEvery30SecondsAnd10AfterAnError() {
        let schedule = HeartbeatSchedule()
        #expect(schedule.delay(afterSuccess: true) == .seconds(30))
        #expect(schedule.delay(afterSuccess: false) == .seconds(10))
    }
}
