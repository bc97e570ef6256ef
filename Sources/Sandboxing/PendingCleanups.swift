/// Clean-up that need not delay a job's answer (unmounting its overlay, deleting its directory, removing its
/// cgroup once empty): run in the background, and waited for by ``settle()`` (shutdown, tests).
actor PendingCleanups {
    private var running: [Int: Task<Void, Never>] = [:]
    private var next = 0

    func start(_ work: @escaping @Sendable () async -> Void) {
        let number = next
        next += 1
        running[number] = Task {
            await work()
            self.finished(number)
        }
    }

    private func finished(_ number: Int) { running[number] = nil }

    /// Returns once every clean-up started so far has ended.
    func settle() async {
        while let (_, task) = running.first {
            await task.value
        }
    }
}
