import KilnProtocol

/// The exact `pot` and `jexec` command lines of the pot sandbox, without running anything. The pot ones are
/// sccache-dist's (protocol §8.5), with `pot_cmd` used for every call (upstream runs a bare `pot` for stop,
/// revert and start).
enum PotCommandLine {
    static let list = ["ls", "-q"]

    static func clone(_ name: String, from source: String, _ cloneArguments: [String]) -> [String] {
        ["clone", "-p", name, "-P", source] + cloneArguments
    }

    static func snapshot(_ name: String) -> [String] { ["snapshot", "-p", name] }
    static func start(_ name: String) -> [String] { ["start", "-p", name] }
    static func stop(_ name: String) -> [String] { ["stop", "-p", name] }
    static func revert(_ name: String) -> [String] { ["revert", "-p", name] }
    static func destroy(_ name: String) -> [String] { ["destroy", "-F", "-p", name] }

    /// Runs in the jail as `user` (`jexec -U`, the jail's own account): `env -i` so that only the job's variables
    /// reach the compiler (jexec passes the builder's own environment on otherwise), then a shell sets the file
    /// size limit (`ulimit -f`, in 512-byte blocks, when `fileSizeBytes` is set), enters the cwd and execs the
    /// compiler with its argv. Variables whose name is empty, holds `=` or starts with `-` (env would read it as
    /// an option) are skipped.
    static func compile(in container: String, _ command: CompileCommand, user: String, fileSizeBytes: UInt64?) -> [String] {
        let environment = command.environment
            .filter { !$0.name.isEmpty && !$0.name.contains("=") && !$0.name.hasPrefix("-") }
            .map { "\($0.name)=\($0.value)" }
        let fileSize = fileSizeBytes.map { "ulimit -f \(max(1, $0 / 512)) && " } ?? ""
        return ["-U", user, container, "/usr/bin/env", "-i"] + environment
            + ["/bin/sh", "-c", "ulimit -c 0 && " + fileSize + #"cd "$1" && shift && exec "$@""#, command.executable, command.cwd]
            + [command.executable] + command.arguments
    }

    /// `rctl` rules bounding the jail of `container` (memory, processes, CPU) by `limits`; none for unset limits.
    static func limitRules(for container: String, _ limits: SandboxLimits) -> [[String]] {
        var rules: [String] = []
        if let memory = limits.memoryBytes { rules.append("memoryuse:deny=\(memory)") }
        if let processes = limits.maxProcesses { rules.append("maxproc:deny=\(processes)") }
        if let cpus = limits.cpus { rules.append("pcpu:deny=\(max(1, Int((cpus * 100).rounded())))") }
        return rules.map { ["-a", "jail:\(container):\($0)"] }
    }

    /// Removes every `rctl` rule of the jail of `container`.
    static func removeRules(of container: String) -> [String] { ["-r", "jail:\(container)"] }

    /// The pots an earlier run of Kiln left, from the output of `pot ls -q`: containers first, because an image
    /// cannot be destroyed while pots cloned from it exist.
    static func stalePots(in listing: String) -> [String] {
        let names = listing.split(whereSeparator: \.isWhitespace).map(String.init)
        let containers = names.filter { $0.hasPrefix(PotSandboxSettings.containerPrefix) }.sorted()
        let images = names.filter { $0.hasPrefix(PotSandboxSettings.imagePrefix) }.sorted()
        return containers + images
    }
}
