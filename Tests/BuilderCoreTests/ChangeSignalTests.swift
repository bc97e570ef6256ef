import BuilderCore
import Synchronization
import Testing

/// A waiter wakes on the next change, never misses one made between its check and its wait, and leaves when
/// cancelled.
@Suite struct ChangeSignalTests {
    @Test func aWaiterWakesOnTheNextChange() async {
        let signal = ChangeSignal()
        let seen = signal.generation
        let waiter = Task { await signal.wait(past: seen) }
        signal.notify()
        await waiter.value
        #expect(signal.generation == seen + 1)
    }

    @Test func aChangeBeforeTheWaitIsNotMissed() async {
        let signal = ChangeSignal()
        let seen = signal.generation
        signal.notify()
        await signal.wait(past: seen)  // returns at once: without the generation it would wait forever
    }

    @Test func aCancelledWaiterReturns() async {
        let signal = ChangeSignal()
        let waiter = Task { await signal.wait(past: signal.generation) }
        waiter.cancel()
        await waiter.value
        #expect(signal.generation == 0)
    }

    @Test func waitingUntilAConditionChecksItAfterEachChange() async {
        let signal = ChangeSignal()
        let count = Mutex(0)
        let waiter = Task { await signal.wait { count.withLock { $0 } == 2 } }
        for _ in 0..<2 {
            count.withLock { $0 += 1 }
            signal.notify()
        }
        await waiter.value
        #expect(count.withLock { $0 } == 2)
    }
}
