import BuilderCore
import GRPCCore
import KilnProtocol
import REAPIWire

/// A REAPI Command as a builder's job: argv[0] as the executable (found on the job's `PATH` when it has no `/`),
/// the working directory under the input root's `/work`, the environment as sent (the builder's allowlist still
/// applies), and the outputs relative to the working directory, as the API names them.
struct ActionCommand {
    let command: CompileCommand
    /// The output files (`output_files`, or `output_paths` from v2.1 clients).
    let outputFiles: [String]
    /// The output directories (`output_directories`).
    let outputDirectories: [String]

    /// What the builder is asked for: the files, then the directories named with a trailing `/` (the builder
    /// returns everything under those).
    var outputs: [String] { outputFiles + outputDirectories.map { $0 + "/" } }

    init(_ command: Build_Bazel_Remote_Execution_V2_Command) throws {
        guard let executable = command.arguments.first, !executable.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "the command has no arguments (argv[0] is the program)")
        }
        let workingDirectory = command.workingDirectory
        guard !workingDirectory.hasPrefix("/"), !workingDirectory.split(separator: "/").contains("..") else {
            throw RPCError(code: .invalidArgument, message: "working_directory '\(workingDirectory.prefix(100))' is not a path inside the input root")
        }
        let cwd = HostRootToolchain.workDirectory + (workingDirectory.isEmpty ? "" : "/" + workingDirectory)
        // v2.1 clients send output_paths and leave output_files empty; v2.0 clients (Bazel 4) the reverse.
        outputFiles = command.outputPaths.isEmpty ? command.outputFiles : command.outputPaths
        outputDirectories = command.outputDirectories.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        for output in outputFiles + outputDirectories where output.isEmpty || output.hasPrefix("/") || output.hasSuffix("/") {
            throw RPCError(code: .invalidArgument, message: "output '\(output.prefix(100))' is not a path relative to the working directory")
        }
        self.command = CompileCommand(
            executable: executable, arguments: Array(command.arguments.dropFirst()),
            environment: command.environmentVariables.map { EnvironmentVariable($0.name, $0.value) }, cwd: cwd)
    }
}
