import Synchronization

/// What ``OverlaySandbox/prepare()`` found out about the host, and the launches it keeps ready.
final class PreparedHost: Sendable {
    private let state = Mutex<(JobLimitEnforcement?, RootlessOverlay?, PreparedLaunches?)>((nil, nil, nil))
    var enforcement: JobLimitEnforcement? { state.withLock { $0.0 } }
    var overlay: RootlessOverlay? { state.withLock { $0.1 } }
    var launches: PreparedLaunches? { state.withLock { $0.2 } }
    private let leftoversNote = Mutex<String?>(nil)
    /// What the start could not delete under `build_dir`, for the start-up log.
    var leftovers: String? {
        get { leftoversNote.withLock { $0 } }
        set { leftoversNote.withLock { $0 = newValue } }
    }

    /// Sets what was found; returns the launches of an earlier ``OverlaySandbox/prepare()``, to be stopped.
    func set(_ enforcement: JobLimitEnforcement, _ overlay: RootlessOverlay?, _ launches: PreparedLaunches) -> PreparedLaunches? {
        state.withLock { state in
            defer { state = (enforcement, overlay, launches) }
            return state.2
        }
    }
}

/// Numbers job directories so a duplicate job id never shares one.
final class JobSequence: Sendable {
    private let counter = Mutex(0)
    func next() -> Int {
        counter.withLock {
            $0 += 1; return $0
        }
    }
}
