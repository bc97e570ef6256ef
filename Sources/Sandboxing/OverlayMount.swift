import KilnErrors

/// overlayfs mounts of job roots, and the clean-up of any left behind by an earlier run. The mounting itself is
/// Linux's (`OverlayMount+Linux.swift`); elsewhere the overlay builder is unavailable and says so.
public enum OverlayMount {
    /// The mount options of an overlay of these layers.
    static func options(lower: String, upper: String, work: String) throws -> String {
        for path in [lower, upper, work] where path.contains(",") || path.contains(":") {
            throw SandboxError(.setup, "overlay layer path '\(path)' contains ',' or ':'; choose a build_dir without them")
        }
        return "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)"
    }
}

#if !os(Linux)
    extension OverlayMount {
        static func mount(lower: String, upper: String, work: String, at target: String) throws {
            throw SandboxError(.unavailable, "overlayfs is Linux's; on this system use the docker or pot sandbox")
        }

        @discardableResult
        static func unmount(_ target: String) -> Bool { true }

        public static func mountPoints(under directory: String) -> [String] { [] }

        public static func unmountAll(under directory: String) -> [String] { [] }
    }
#endif
