import Synchronization
import Testing

@testable import BuilderService

/// The toolchain digests a builder remembers: made once per archive id however many jobs ask at once, a failure
/// tried again, the oldest forgotten past the capacity.
@Suite struct ToolchainContentsTests {
    @Test func concurrentJobsOfOneToolchainMakeItsDigestOnce() async throws {
        let contents = ToolchainContents()
        final class Count: Sendable { let value = Mutex(0) }
        let made = Count()
        let digests = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<16 {
                group.addTask {
                    try await contents.digest(of: "a") {
                        made.value.withLock { $0 += 1 }
                        try await Task.sleep(for: .milliseconds(50))
                        return [1, 2, 3]
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(digests.count == 16 && digests.allSatisfy { $0 == [1, 2, 3] })
        #expect(made.value.withLock { $0 } == 1)
        #expect(try await contents.digest(of: "a") { [9] } == [1, 2, 3], "known: not made again")
    }

    @Test func aFailureIsTriedAgainAndTheOldestIsForgotten() async throws {
        struct Unreadable: Error {}
        let contents = ToolchainContents(capacity: 2)
        await #expect(throws: Unreadable.self) { try await contents.digest(of: "a") { throw Unreadable() } }
        #expect(try await contents.digest(of: "a") { [1] } == [1], "the failure was not remembered")
        _ = try await contents.digest(of: "b") { [2] }
        _ = try await contents.digest(of: "c") { [3] }
        #expect(try await contents.digest(of: "a") { [4] } == [4], "past the capacity the oldest is made again")
        #expect(try await contents.digest(of: "c") { [5] } == [3])
    }
}
