import KilnErrors

/// overlayfs mounts of job roots, and the clean-up of any left behind by an earlier run. The mounting itself is
/// Linux's (`OverlayMount+Linux.swift`); elsewhere the overlay builder is unavailable and says so.
public enum OverlayMount {
    /// The mount options of an overlay of these layers, `volatile` (Linux 5.10) unless told otherwise: the overlay
    /// then never syncs the filesystem of its upper layer. Without it, the end of every job's overlay (its unmount,
    /// or its last process leaving the sandbox's namespace) writes back everything dirty on the filesystem under
    /// `build_dir`: a job paid 2 ms for it on a quiet disk and over 100 ms beside a busy build. A job's layers are
    /// thrown away after it, so nothing needs them on disk; the `work/work/incompat/volatile` mark such a mount
    /// leaves (a later mount of the same work directory refuses it) goes with the rest of `work`.
    static func options(lower: String, upper: String, work: String, volatile: Bool = true) throws -> String {
        for path in [lower, upper, work] where path.contains(",") || path.contains(":") {
            throw SandboxError(.setup, "overlay layer path '\(path)' contains ',' or ':'; choose a build_dir without them")
        }
        return "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)" + (volatile ? ",volatile" : "")
    }
}

#if !os(Linux)
    extension OverlayMount {
        static func mount(lower: String, upper: String, work: String, at target: String, volatile: Bool = true) throws {
            throw SandboxError(.unavailable, "overlayfs is Linux's; on this system use the docker or pot sandbox")
        }

        @discardableResult
        static func unmount(_ target: String) -> Bool { true }

        public static func mountPoints(under directory: String) -> [String] { [] }

        public static func unmountAll(under directory: String) -> [String] { [] }
    }
#endif
