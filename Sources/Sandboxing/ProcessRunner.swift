import JobSpawn
import KilnProtocol
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Runs a child process with a deadline, bounded stdout and stderr, and in a session of its own so that a timeout
/// kills its whole process group. swift-subprocess resets the signal mask and handlers in the child, which a
/// compiler driver needs (an inherited blocked SIGCHLD leaves zombies unreaped).
public struct ProcessRunner: Sendable {
    /// How the process ended.
    public enum Termination: Sendable, Hashable {
        case exited(Int32)
        case signaled(Int32)
    }

    public struct Outcome: Sendable {
        public var termination: Termination
        public var stdout: [UInt8]
        public var stderr: [UInt8]
    }

    public var timeout: Duration
    public var maxStreamBytes: Int

    public init(timeout: Duration, maxStreamBytes: Int) {
        self.timeout = timeout
        self.maxStreamBytes = maxStreamBytes
    }

    /// A session of its own, and SIGKILL to the whole group on teardown (timeout or cancellation).
    private static func sessionOptions() -> PlatformOptions {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        return options
    }

    /// Runs `executable` (an absolute path) with exactly `environment`.
    public func run(
        _ executable: String, _ arguments: [String], environment: [String: String], workingDirectory: String? = nil
    ) async throws -> Outcome {
        let options = Self.sessionOptions()
        let environmentKeys = Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })
        let limit = maxStreamBytes
        let deadline = timeout
        return try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom(environmentKeys),
                    workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options,
                    output: .bytes(limit: limit), error: .bytes(limit: limit))
                let termination: Termination =
                    switch result.terminationStatus {
                    case .exited(let code): .exited(code)
                    case .signaled(let signal): .signaled(signal)
                    }
                return Outcome(termination: termination, stdout: result.standardOutput, stderr: result.standardError)
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            do {
                guard let first = try await group.next(), let outcome = first else {
                    group.cancelAll()
                    throw SandboxError(.timedOut, "\(executable) ran longer than \(deadline) and was killed with its process group")
                }
                group.cancelAll()
                return outcome
            } catch let error as SubprocessError {
                group.cancelAll()
                if error.code == .outputLimitExceeded {
                    throw SandboxError(.outputTooLarge, "\(executable) wrote more than \(limit) bytes to stdout or stderr", cause: "\(error)")
                }
                throw SandboxError(.processFailed, "could not run \(executable); check that it exists and is executable", cause: "\(error)")
            }
        }
    }
}

extension ProcessRunner.Outcome {
    /// The compiler's exit code and streams; a compiler killed by a signal is a sandbox failure, not a result.
    func processOutput() throws -> ProcessOutput {
        guard case .exited(let code) = termination else {
            throw SandboxError(
                .processFailed, "the compiler was killed by \(termination)", cause: String(decoding: stderr.suffix(2000), as: UTF8.self))
        }
        return ProcessOutput(code: code, stdout: stdout, stderr: stderr)
    }
}

extension JobProcess.Outcome {
    /// The compiler's exit code and streams, or the sandbox failure that ended the job's process.
    func processOutput(executable: String, timeout: Duration, streamLimit: Int) throws -> ProcessOutput {
        switch ending {
        case .exited(let code): return ProcessOutput(code: code, stdout: stdout, stderr: stderr)
        case .signaled(let signal):
            throw SandboxError(
                .processFailed, "the compiler was killed by signal \(signal)", cause: String(decoding: stderr.suffix(2000), as: UTF8.self))
        case .timedOut: throw SandboxError(.timedOut, "\(executable) ran longer than \(timeout) and was killed with its process group")
        case .cancelled: throw SandboxError(.cancelled, "the job was cancelled (its client went away); its processes were killed")
        case .streamTooLarge: throw SandboxError(.outputTooLarge, "\(executable) wrote more than \(streamLimit) bytes to stdout or stderr")
        case .notStarted(let stage, let error):
            throw SandboxError(
                .processFailed, "could not start \(executable) (\(stage) failed); check the sandbox settings", cause: "errno \(error)")
        }
    }
}
