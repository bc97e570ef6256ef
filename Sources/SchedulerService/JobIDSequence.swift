import Foundation
import KilnProtocol

/// Job ids that never repeat, across restarts too: upstream restarts at 0 and a reused id crashes its build
/// servers (protocol §7.3).
///
/// With a state directory, ids start from the larger of the clock (milliseconds since 1970, times 1024) and what a
/// previous run reserved in `<state_dir>/next-job-id`, and are reserved 1024 at a time, written before use.
/// Without one, nothing survives a restart and the clock may have stepped back: ids start at a random point of
/// [2^52, 2^53) (above every clock-based id, still exact in JSON), so two runs overlap with a chance of about
/// 2^-27 even after 16 million jobs each.
struct JobIDSequence {
    private var next: UInt64
    private var reservedUpTo: UInt64
    private let stateFile: String?
    static let block: UInt64 = 1024

    init(stateDirectory: String?, now: Date = Date()) throws {
        let clockSeed = UInt64(max(now.timeIntervalSince1970, 0) * 1000) << 10
        var start = UInt64.random(in: (1 << 52)..<(1 << 53))
        if let directory = stateDirectory {
            start = clockSeed
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let file = directory + "/next-job-id"
            stateFile = file
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
                let saved = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                start = max(start, saved)
            }
        } else {
            stateFile = nil
        }
        next = start
        reservedUpTo = start
    }

    mutating func take() throws -> JobID {
        if let stateFile, next >= reservedUpTo {
            reservedUpTo = next + Self.block
            let temporary = stateFile + ".tmp"
            try Data("\(reservedUpTo)\n".utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, stateFile) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: stateFile])
            }
        }
        defer { next += 1 }
        return JobID(next)
    }
}
