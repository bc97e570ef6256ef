/// The keys of `[builder] type = "pot"`: sccache-dist's, with its defaults, and Kiln's optional `jexec_cmd`,
/// `rctl_cmd`, `jail_user` and `idle_containers`.
///
/// ```toml
/// [builder]
/// type = "pot"
/// pot_fs_root = "/opt/pot"             # pot's file system root
/// clone_from = "sccache-template"      # the template pot toolchain images are cloned from
/// pot_cmd = "pot"                      # a path, or a name looked up in PATH
/// pot_clone_args = ["-i", "lo0|127.0.0.2"]
/// jexec_cmd = "jexec"                  # Kiln: a path, or a name looked up in PATH
/// rctl_cmd = "rctl"                    # Kiln: bounds each jail by [job_limits] memory, processes and cpus
/// jail_user = "nobody"                 # Kiln: the jail's account jobs run as (jexec -U), never root
/// idle_containers = 4                  # Kiln: started containers kept ready per toolchain
/// ```
public struct PotConfiguration: Sendable, Hashable {
    public var fsRoot = "/opt/pot"
    public var cloneFrom = "sccache-template"
    public var potCommand = "pot"
    public var cloneArguments = ["-i", "lo0|127.0.0.2"]
    public var jexecCommand = "jexec"
    public var rctlCommand = "rctl"
    public var jailUser = "nobody"
    public var idleContainersPerToolchain = 4

    public init() {}

    init(reading table: inout TOMLTableReader) throws {
        fsRoot = try table.string("pot_fs_root") ?? fsRoot
        guard fsRoot.hasPrefix("/") else {
            throw ConfigurationError(.invalidValue, key: table.keyPath("pot_fs_root"), "'\(fsRoot)' must be an absolute path")
        }
        cloneFrom = try table.string("clone_from") ?? cloneFrom
        potCommand = try table.string("pot_cmd") ?? potCommand
        cloneArguments = try table.stringArray("pot_clone_args") ?? cloneArguments
        jexecCommand = try table.string("jexec_cmd") ?? jexecCommand
        rctlCommand = try table.string("rctl_cmd") ?? rctlCommand
        jailUser = try table.string("jail_user") ?? jailUser
        guard !jailUser.isEmpty, jailUser != "root" else {
            throw ConfigurationError(
                .invalidValue, key: table.keyPath("jail_user"), "'\(jailUser)' may not run jobs: name an unprivileged account of the jail")
        }
        if let idle = try table.integer("idle_containers") {
            guard idle >= 0 else { throw ConfigurationError(.invalidValue, key: table.keyPath("idle_containers"), "must be 0 or more") }
            idleContainersPerToolchain = idle
        }
    }
}
