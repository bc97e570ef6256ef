import Foundation

/// How the pot sandbox drives FreeBSD's `pot` and `jexec`: sccache-dist's keys and defaults (protocol §8.5), and
/// Kiln's `jexec_cmd`.
public struct PotSandboxSettings: Sendable, Hashable {
    /// pot's file system root; a pot's root directory is `<fsRoot>/jails/<name>/m`.
    public var fsRoot = "/opt/pot"
    /// The template pot every toolchain image is cloned from (a `single` pot with a snapshot).
    public var cloneFrom = "sccache-template"
    /// The `pot` command: a path, or a name looked up in `PATH`.
    public var potCommand = "pot"
    /// The `jexec` command: a path, or a name looked up in `PATH`.
    public var jexecCommand = "jexec"
    /// The `rctl` command (FreeBSD's resource limits of the jails): a path, or a name looked up in `PATH`.
    public var rctlCommand = "rctl"
    /// The user of the jail (in its `/etc/passwd`) jobs run as, with `jexec -U`: never the jail's root.
    public var jailUser = "nobody"
    /// Passed to every `pot clone` (the network of the new pot).
    public var cloneArguments = ["-i", "lo0|127.0.0.2"]
    /// Idle, started containers kept per toolchain.
    public var idleContainersPerToolchain = 4
    /// Containers reset (stop, revert, start) at the same time, in the background.
    public var resetWorkers = 4
    /// The deadline of each `pot` command.
    public var commandTimeout: Duration = .seconds(300)
    /// The `PATH` the commands are looked up in and run with.
    public var searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"

    public init() {}

    /// Kiln's pots are named with these prefixes; a start removes every pot that has one.
    static let imagePrefix = "kiln-image-"
    static let containerPrefix = "kiln-builder-"

    func imageName(of archiveID: String) -> String { Self.imagePrefix + archiveID }

    static func newContainerName() -> String { containerPrefix + UUID().uuidString.lowercased() }

    /// The root directory of a pot, as the host sees it.
    func root(of pot: String) -> String { "\(fsRoot)/jails/\(pot)/m" }

    /// The absolute path of `command`, looked up in ``searchPath`` unless it has a `/`; nil when not executable.
    func resolve(_ command: String) -> String? {
        let candidates = command.contains("/") ? [command] : searchPath.split(separator: ":").map { "\($0)/\(command)" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
