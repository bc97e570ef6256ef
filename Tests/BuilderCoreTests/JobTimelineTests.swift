import BuilderCore
import KilnTestSupport
import Testing

/// The phases of a job under a manual clock: durations, offsets from the job's start, and the debug log line.
@Suite struct JobTimelineTests {
    @Test func phasesKeepTheirOffsetAndDurationAndMayOverlap() {
        let clock = ManualClock()
        var timeline = JobTimeline<ManualClock>(start: clock.now)
        let requestStart = clock.now
        clock.advance(by: .microseconds(250))
        let startedReportStart = clock.now
        clock.advance(by: .milliseconds(1))
        timeline.record(.requestRead, from: requestStart, to: clock.now)
        clock.advance(by: .microseconds(500))
        timeline.record(.startedReport, from: startedReportStart, to: clock.now)
        let compileStart = clock.now
        clock.advance(by: .milliseconds(20))
        timeline.record(.compile, from: compileStart, to: clock.now)

        #expect(timeline.duration(of: .requestRead) == .microseconds(1250))
        #expect(timeline.duration(of: .startedReport) == .microseconds(1500))
        #expect(timeline.duration(of: .compile) == .milliseconds(20))
        #expect(timeline.duration(of: .sandboxSetup) == nil, "a phase the job skipped is absent")
        #expect(timeline.spans.first { $0.phase == .compile }?.offset == .microseconds(1750))
        #expect(timeline.summary == "request_read=1.25ms@0.00 started_report=1.50ms@0.25 compile=20.00ms@1.75")
    }

    @Test func aPhaseRecordedTwiceAddsUp() {
        let clock = ManualClock()
        var timeline = JobTimeline<ManualClock>(start: clock.now)
        for _ in 0..<2 {
            let begin = clock.now
            clock.advance(by: .milliseconds(3))
            timeline.record(.cacheLookup, from: begin, to: clock.now)
        }
        #expect(timeline.duration(of: .cacheLookup) == .milliseconds(6))
        #expect(JobTimeline<ManualClock>.Phase.allCases.map(\.rawValue).allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
    }
}
