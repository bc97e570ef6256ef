import KilnProtocol

/// The job's environment as a sandbox passes it: a variable whose name is empty or holds `=` cannot be set (neither
/// bubblewrap's `--setenv` nor the engine's exec can), so it is left out; of two with one name, the later wins.
extension CompileCommand {
    /// The variables a sandbox sets, in the job's order.
    var passableEnvironment: [EnvironmentVariable] { environment.filter { !$0.name.contains("=") && !$0.name.isEmpty } }

    /// The same by name, as the job's process sees them.
    var environmentByName: [String: String] {
        Dictionary(passableEnvironment.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}
