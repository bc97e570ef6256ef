#if os(Linux)
    import Foundation
    import Glibc
    import KilnErrors
    import Synchronization

    /// Linux's side of ``OverlayMount``: `mount(2)` and `umount2(2)`, and the mounts left by an earlier run read from
    /// `/proc/self/mountinfo`.
    extension OverlayMount {
        /// Whether this kernel refused the `volatile` option (before Linux 5.10): mounts then go without it.
        private static let volatileRefused = Atomic<Bool>(false)

        /// Mounts `lower` (read-only) under `upper` (the job's writes) at `target`, `volatile` if asked and the kernel
        /// has it (see ``OverlayMount/options(lower:upper:work:volatile:)``).
        static func mount(lower: String, upper: String, work: String, at target: String, volatile: Bool = true) throws {
            let tryVolatile = volatile && !volatileRefused.load(ordering: .relaxed)
            if tryVolatile {
                if Glibc.mount("overlay", target, "overlay", 0, try options(lower: lower, upper: upper, work: work)) == 0 { return }
                guard errno == EINVAL else { throw mountFailed(at: target) }
            }
            let options = try options(lower: lower, upper: upper, work: work, volatile: false)
            guard Glibc.mount("overlay", target, "overlay", 0, options) == 0 else { throw mountFailed(at: target) }
            // Only the option made the difference: later mounts go without it at once.
            if tryVolatile { volatileRefused.store(true, ordering: .relaxed) }
        }

        private static func mountFailed(at target: String) -> SandboxError {
            SandboxError(
                .setup, "mounting overlayfs on '\(target)' failed; the overlay builder needs root and a kernel with overlayfs",
                cause: SandboxPaths.errorText())
        }

        /// Detaches the mount at `target`. Returns false when something is still mounted there.
        @discardableResult
        static func unmount(_ target: String) -> Bool {
            umount2(target, Int32(MNT_DETACH)) == 0 || errno == EINVAL || errno == ENOENT
        }

        /// Every mount point at or under `directory`, deepest first.
        public static func mountPoints(under directory: String) -> [String] {
            guard let table = KernelFile.text("/proc/self/mountinfo") else { return [] }
            var points: [String] = []
            for line in table.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count > 4 else { continue }
                let point = unescape(String(fields[4]))
                if point == directory || point.hasPrefix(directory + "/") { points.append(point) }
            }
            return points.sorted { $0.count > $1.count }
        }

        /// Detaches every mount under `directory`; returns the ones that would not go.
        public static func unmountAll(under directory: String) -> [String] {
            mountPoints(under: directory).filter { !unmount($0) }
        }

        /// mountinfo writes space, tab, newline and backslash as `\ooo`.
        private static func unescape(_ field: String) -> String {
            guard field.contains("\\") else { return field }
            var bytes: [UInt8] = []
            var iterator = Array(field.utf8)[...]
            while let byte = iterator.popFirst() {
                if byte == UInt8(ascii: "\\"), iterator.count >= 3, let value = UInt8(String(decoding: iterator.prefix(3), as: UTF8.self), radix: 8) {
                    bytes.append(value)
                    iterator = iterator.dropFirst(3)
                } else {
                    bytes.append(byte)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
#endif
