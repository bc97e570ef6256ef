import KilnProtocol

/// Which of the client's environment variables reach the compiler: those on an allowlist (exact names, or
/// prefixes written `NAME*`), plus a fixed `PATH` unless the client's own is allowed. The result is what every
/// sandbox gets and what a result's cache key covers, so two runners that differ only in `SHLVL`, `OLDPWD` or
/// `SCCACHE_*` run the same job.
public struct JobEnvironmentPolicy: Sendable, Hashable {
    private let exactNames: Set<String>
    private let prefixes: [String]
    /// The `PATH` of a job whose client's `PATH` is not allowed.
    public let path: String

    public init(allowlist: [String], path: String) {
        exactNames = Set(allowlist.filter { !$0.hasSuffix("*") })
        prefixes = allowlist.filter { $0.hasSuffix("*") }.map { String($0.dropLast()) }
        self.path = path
    }

    public func allows(_ name: String) -> Bool {
        exactNames.contains(name) || prefixes.contains { name.hasPrefix($0) }
    }

    /// The allowed variables, one per name (the last one the client sent wins, as it would in a shell), sorted by
    /// name; names that are empty or contain `=` are dropped, as upstream builders drop them.
    public func environment(from client: [EnvironmentVariable]) -> [EnvironmentVariable] {
        var chosen: [String: String] = [:]
        for variable in client where !variable.name.isEmpty && !variable.name.contains("=") && allows(variable.name) {
            chosen[variable.name] = variable.value
        }
        if chosen["PATH"] == nil { chosen["PATH"] = path }
        return chosen.sorted { $0.key < $1.key }.map { EnvironmentVariable($0.key, $0.value) }
    }

    /// `command` with only the environment that reaches the compiler.
    public func command(_ command: CompileCommand) -> CompileCommand {
        var filtered = command
        filtered.environment = environment(from: command.environment)
        return filtered
    }
}
