import Foundation
import KilnProtocol
import KilnTestSupport
import Testing

@testable import SchedulerService

/// Job ids never repeat across restarts (a reused id breaks builders that still hold it), even when the clock
/// steps back (issue 20, item 7).
@Suite struct JobIDSequenceTests {
    @Test func withoutAStateDirectoryRestartsAtTheSameOrAnEarlierTimeDoNotOverlap() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var runs = [
            try JobIDSequence(stateDirectory: nil, now: now), try JobIDSequence(stateDirectory: nil, now: now),
            try JobIDSequence(stateDirectory: nil, now: now.addingTimeInterval(-3600)),
        ]
        var seen: Set<JobID> = []
        for index in runs.indices {
            for _ in 0..<1000 {
                let id = try runs[index].take()
                #expect(seen.insert(id).inserted, "\(id) was handed out before")
                #expect(id.rawValue >= 1 << 52 && id.rawValue < 1 << 53, "above clock-based ids, exact in JSON")
            }
        }
    }

    @Test func withAStateDirectoryARestartContinuesAboveWhatWasReservedThoughTheClockWentBack() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-ids")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var first = try JobIDSequence(stateDirectory: directory.path, now: now)
        let handedOut = try (0..<1500).map { _ in try first.take() }
        var second = try JobIDSequence(stateDirectory: directory.path, now: now.addingTimeInterval(-86_400))
        let next = try second.take()
        #expect(handedOut.allSatisfy { $0.rawValue < next.rawValue })
    }
}
