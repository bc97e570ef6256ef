import Synchronization

/// Background container resets: started after a job answers (off the response path) and awaited at shutdown.
final class ResetTracker: Sendable {
    private let running = Mutex<[Int: Task<Void, Never>]>([:])
    private let counter = Mutex(0)

    func start(_ work: @escaping @Sendable () async -> Void) {
        let key = counter.withLock {
            $0 += 1; return $0
        }
        running.withLock { tasks in
            tasks[key] = Task {
                await work()
                _ = self.running.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    func waitForAll() async {
        while let task = running.withLock({ $0.values.first }) { await task.value }
    }
}
