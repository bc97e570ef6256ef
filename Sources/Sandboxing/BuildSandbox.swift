import ArchiveKit
import BlockingPool
import Foundation
import KilnProtocol

/// Runs one compile in isolation: the toolchain and the job's inputs make up one root, `executable` runs there
/// with the job's arguments, environment and working directory, and the declared outputs come back.
/// One implementation per backend (`OverlaySandbox`, `DockerSandbox`, `PotSandbox`).
public protocol BuildSandbox: Sendable {
    /// Start-up: checks the backend works and removes whatever an earlier run left behind.
    func prepare() async throws
    /// Runs the job. A compiler's non-zero exit is a `JobComplete` with that code; errors are for the sandbox.
    func run(_ job: SandboxJob) async throws -> JobComplete
    /// Graceful stop: releases what the backend holds (containers); the next ``prepare()`` removes the rest.
    func shutdown() async
    /// The start of a graceful stop (the drain): gives up what was made ahead for jobs to come, which a stop that
    /// ends in SIGKILL would otherwise leave behind (mounts). Jobs still run, without it.
    func stopWorkingAhead() async
    /// Which limits hold for jobs and what enforces them on this host, for the start-up log (after ``prepare()``).
    var enforcementReport: String { get }
    /// The ``ArchiveContentDigest`` of the job's toolchain (at `toolchainArchivePath`, pinned by the caller): what
    /// keys its results. A toolchain that does not unpack throws `SandboxError(.badToolchain)`.
    func toolchainContent(of job: SandboxJob) async throws -> [UInt8]
}

extension BuildSandbox {
    public func shutdown() async {}
    public func stopWorkingAhead() async {}

    /// Reads the archive through without writing it (the backends that unpack it elsewhere: an image, a jail).
    public func toolchainContent(of job: SandboxJob) async throws -> [UInt8] {
        let path = job.toolchainArchivePath
        do {
            return try await BlockingWork.run { try SafeExtractor(limits: .toolchain).contentDigest(file: path) }
        } catch let error as ArchiveError {
            throw SandboxError(.badToolchain, "the toolchain archive does not unpack: \(error.message)", underlying: error)
        }
    }
}

/// Everything a sandbox needs for one job.
public struct SandboxJob: Sendable {
    /// The job id, for naming and logs.
    public var id: JobID
    public var toolchain: Toolchain
    /// The toolchain archive (`.tar.gz`) in the cache; the caller keeps it from being evicted during the run.
    public var toolchainArchivePath: String
    public var command: CompileCommand
    /// The outputs to return, as the client named them (absolute, or relative to `command.cwd`).
    public var outputs: [String]
    /// The job's inputs as an uncompressed tar file.
    public var inputsTarPath: String
    /// The inputs tar itself, when it was small enough to keep in memory: then nothing is at ``inputsTarPath``
    /// until a sandbox that needs a file writes it there (see ``inputsFile()``).
    public var inputsTar: [UInt8]?
    /// Called once the job's root is ready, right before the compiler starts (setup time ends here). The compiler
    /// waits for it; when it throws, the job ends with that error and its compiler never runs.
    public var onCompilerStart: (@Sendable () async throws -> Void)?
    /// Called when the compiler has ended, before the outputs are read back.
    public var onCompilerEnd: (@Sendable () -> Void)?
    /// Called when this job had to unpack its toolchain (into a directory or an image), with how long that took.
    public var onToolchainUnpacked: (@Sendable (Duration) -> Void)?

    public init(
        id: JobID, toolchain: Toolchain, toolchainArchivePath: String, command: CompileCommand, outputs: [String],
        inputsTarPath: String, inputsTar: [UInt8]? = nil
    ) {
        self.id = id
        self.toolchain = toolchain
        self.toolchainArchivePath = toolchainArchivePath
        self.command = command
        self.outputs = outputs
        self.inputsTarPath = inputsTarPath
        self.inputsTar = inputsTar
    }
}

extension SandboxJob {
    /// The inputs as a tar file at ``inputsTarPath``, written there first when they were held in memory. Blocking.
    func inputsFile() throws -> String {
        guard let inputsTar else { return inputsTarPath }
        do {
            try Data(inputsTar).write(to: URL(fileURLWithPath: inputsTarPath))
        } catch {
            throw SandboxError(.setup, "cannot write the job's inputs to '\(inputsTarPath)'; check the spool directory", underlying: error)
        }
        return inputsTarPath
    }
}

/// The bounds every job runs within (`[job_limits]`). A nil limit is not enforced.
public struct SandboxLimits: Sendable, Hashable {
    /// The job is killed (its whole process tree) after this long and the client compiles locally.
    public var timeout: Duration = .seconds(600)
    /// The most bytes kept from stdout, and from stderr.
    public var maxStreamBytes = 16 << 20
    /// The largest output file returned.
    public var maxOutputFileBytes = 1 << 30
    /// The most bytes of all outputs of one job together.
    public var maxOutputBytes = 2 << 30
    /// Memory of the job's processes together (cgroup), or address space of each (rlimit fallback).
    public var memoryBytes: UInt64? = 4 << 30
    /// Processes (and threads) of the job at once.
    public var maxProcesses: Int? = 1024
    /// CPUs' worth of time per second (cgroup CPU bandwidth); 1.5 is allowed.
    public var cpus: Double?
    /// Bytes the job may write: its files in the job's layer, and any single file it writes.
    public var diskBytes: UInt64? = 8 << 30

    public init() {}

    /// The output bounds, as the start-up reports of every sandbox say them.
    var outputsReport: String { "outputs \(maxOutputFileBytes) bytes per file, \(maxOutputBytes) in all" }
}
