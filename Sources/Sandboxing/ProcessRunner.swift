import JobSpawn
import KilnErrors
import KilnProtocol

/// Runs a child process with a deadline, bounded stdout and stderr, and in a session of its own so that a timeout
/// kills its whole process group (``JobProcess``: default signal dispositions, an empty signal mask, no inherited
/// descriptor). Every process the sandboxes start goes through `JobSpawn`, whose waits are per child: with
/// swift-subprocess's process-wide monitor beside it in one process, a spawn of swift-subprocess's now and then
/// never saw its child exit (the child stayed an unreaped zombie) and hung until its deadline.
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

    /// Runs `executable` (an absolute path) with exactly `environment`.
    public func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws -> Outcome {
        let outcome = await JobProcess(executable: executable, arguments: arguments, environment: environment)
            .run(timeout: timeout, maxStreamBytes: maxStreamBytes)
        switch outcome.ending {
        case .exited(let code): return Outcome(termination: .exited(code), stdout: outcome.stdout, stderr: outcome.stderr)
        case .signaled(let signal): return Outcome(termination: .signaled(signal), stdout: outcome.stdout, stderr: outcome.stderr)
        case .timedOut: throw SandboxError(.timedOut, "\(executable) ran longer than \(timeout) and was killed with its process group")
        case .cancelled: throw CancellationError()
        case .streamTooLarge: throw SandboxError(.outputTooLarge, "\(executable) wrote more than \(maxStreamBytes) bytes to stdout or stderr")
        case .notStarted(let stage, let error):
            throw SandboxError(
                .processFailed, "could not run \(executable); check that it exists and is executable", cause: "\(stage) failed: errno \(error)")
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
        case .cancelled: throw CancellationError()  // the client went away; the processes were killed
        case .streamTooLarge: throw SandboxError(.outputTooLarge, "\(executable) wrote more than \(streamLimit) bytes to stdout or stderr")
        case .notStarted(let stage, let error):
            throw SandboxError(
                .processFailed, "could not start \(executable) (\(stage) failed); check the sandbox settings", cause: "errno \(error)")
        }
    }
}
