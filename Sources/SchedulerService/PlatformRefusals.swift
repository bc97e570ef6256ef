import KilnProtocol
import Synchronization

/// Builders that refused a toolchain's platform (an overlay builder asked for a container image, a docker builder
/// whose engine lacks the image), remembered for a while so the next actions of that toolchain go straight to the
/// others; forgotten after ``memory``, as a builder may be reconfigured or given the image.
final class PlatformRefusals: Sendable {
    static let memory = Duration.seconds(600)
    /// Most toolchains remembered (the oldest refusals go first beyond it).
    static let maxToolchains = 1024
    private let refusals = Mutex<[String: [ServerID: ContinuousClock.Instant]]>([:])

    /// The servers that refused `toolchain` recently.
    func servers(refusing toolchain: String, now: ContinuousClock.Instant = .now) -> Set<ServerID> {
        refusals.withLock { table in
            let recent = (table[toolchain] ?? [:]).filter { now < $0.value + Self.memory }
            table[toolchain] = recent.isEmpty ? nil : recent
            return Set(recent.keys)
        }
    }

    func record(_ server: ServerID, refusing toolchain: String, now: ContinuousClock.Instant = .now) {
        refusals.withLock { table in
            if table[toolchain] == nil, table.count >= Self.maxToolchains {
                let oldest = table.min { ($0.value.values.max() ?? now) < ($1.value.values.max() ?? now) }?.key
                if let oldest { table[oldest] = nil }
            }
            table[toolchain, default: [:]][server] = now
        }
    }
}
