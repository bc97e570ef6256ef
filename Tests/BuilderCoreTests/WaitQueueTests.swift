import BuilderCore
import KilnTestSupport
import Testing

/// Waiters are served in arrival order, and one whose task is cancelled leaves the queue without taking a value.
@Suite struct WaitQueueTests {
    /// Hands out numbered tickets, the way job slots and containers are handed out.
    actor Tickets {
        private var waiting = WaitQueue<Int>()
        var count: Int { waiting.count }

        func take() async throws -> Int {
            let id = waiting.reserveID()
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { waiting.enqueue(id, $0) }
            } onCancel: {
                Task { await self.giveUp(id) }
            }
        }

        private func giveUp(_ id: Int) { waiting.cancel(id) }
        func hand(_ ticket: Int) -> Bool { waiting.resumeFirst(with: ticket) }
    }

    static func waitUntil(_ tickets: Tickets, count: Int) async {
        for _ in 0..<10_000 where await tickets.count != count { await Task.yield() }
    }

    @Test func waitersAreServedInOrderAndACancelledOneLeaves() async throws {
        let tickets = Tickets()
        let first = Task { try await tickets.take() }
        await Self.waitUntil(tickets, count: 1)
        let second = Task { try await tickets.take() }
        await Self.waitUntil(tickets, count: 2)
        let third = Task { try await tickets.take() }
        await Self.waitUntil(tickets, count: 3)
        second.cancel()
        await Self.waitUntil(tickets, count: 2)
        #expect(await tickets.count == 2)
        await #expect(throws: CancellationError.self) { try await second.value }
        #expect(await tickets.hand(1))
        #expect(await tickets.hand(2))
        #expect(!(await tickets.hand(3)))  // nobody waits any more: the cancelled waiter took nothing
        #expect(try await first.value == 1)
        #expect(try await third.value == 2)
    }

    @Test func aTaskCancelledBeforeItWaitsDoesNotQueue() async throws {
        let tickets = Tickets()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await tickets.take()
        }
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await tickets.count == 0)
    }
}
