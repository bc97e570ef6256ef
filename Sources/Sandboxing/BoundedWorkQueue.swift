import Synchronization

/// Background work such as container resets, started after a job answers (off the response path), run by at most
/// `maxWorkers` tasks at a time, and awaited at shutdown. Work beyond the bound waits in a queue; nothing spins
/// (upstream's pot builder busy-waits for a free cleanup thread before it answers the job).
final class BoundedWorkQueue: Sendable {
    private struct State {
        var queue: [@Sendable () async -> Void] = []
        var workers: [Int: Task<Void, Never>] = [:]
        var nextWorker = 0
    }

    let maxWorkers: Int
    private let state = Mutex(State())

    init(maxWorkers: Int) { self.maxWorkers = max(1, maxWorkers) }

    /// Queues `work`; it starts at once when fewer than `maxWorkers` items are running.
    func start(_ work: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            state.queue.append(work)
            guard state.workers.count < maxWorkers else { return }
            state.nextWorker += 1
            let key = state.nextWorker
            state.workers[key] = Task { await self.drainQueue(worker: key) }
        }
    }

    /// Items queued or running right now.
    var pending: Int { state.withLock { $0.queue.count + $0.workers.count } }

    /// Returns once every queued item has run.
    func waitForAll() async {
        while let worker = state.withLock({ $0.workers.values.first }) { await worker.value }
    }

    private func drainQueue(worker key: Int) async {
        while let work = state.withLock({ state -> (@Sendable () async -> Void)? in
            if state.queue.isEmpty {
                state.workers[key] = nil
                return nil
            }
            return state.queue.removeFirst()
        }) {
            await work()
        }
    }
}
