import ContentStore
import Foundation
import GRPCCore
import KilnProtocol
import Logging
import REAPIWire
import SwiftProtobuf

/// An action as a job for the farm's builders.
public struct FarmJob: Sendable {
    public var command: CompileCommand
    /// The outputs to bring back, relative to the command's working directory.
    public var outputs: [String]
    /// An uncompressed tar of the input root, its paths under `work/`.
    public var inputsTar: [UInt8]
    /// The `container-image` the action asks for (without `docker://`); nil: the builder's own root.
    public var containerImage: String?
}

/// Runs a job on the farm's builders: a command over the ``HostRootToolchain`` root (of its container image, if
/// any) with the tar of its files. It throws ``FarmJobFailure`` when the farm could not run the job.
public typealias FarmJobRunner = @Sendable (_ job: FarmJob) async throws -> JobComplete

/// Why the farm did not run an action, as its client hears it: `UNAVAILABLE` when trying again may help (no builder
/// was free), `DEADLINE_EXCEEDED` for a job killed at its timeout, `INVALID_ARGUMENT` for an action the sandbox
/// refused (an unsafe output, a limit), `INTERNAL` when a builder failed.
public struct FarmJobFailure: Error, RPCErrorConvertible {
    public enum Kind: Sendable { case noCapacity, timedOut, refused, builderFailed }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var rpcErrorCode: RPCError.Code {
        switch kind {
        case .noCapacity: .unavailable
        case .timedOut: .deadlineExceeded
        case .refused: .invalidArgument
        case .builderFailed: .internalError
        }
    }
    public var rpcErrorMessage: String { message }
}

/// REAPI's Execution: an action comes from the action cache when it can, else it runs on a builder in the same
/// slots and sandboxes as sccache's jobs, its outputs, stdout and stderr go to the CAS, and a successful result to
/// the action cache. The stream says QUEUED, EXECUTING, then COMPLETED. A running action is an operation on the
/// ``OperationBoard``: a client whose stream broke follows it again with WaitExecution; one that does not come back
/// within the board's grace has its job cancelled.
struct ExecutionService: Build_Bazel_Remote_Execution_V2_Execution.SimpleServiceProtocol {
    typealias Operation = Google_Longrunning_Operation
    let cas: DiskBlobStore
    let actionCache: DiskBlobStore
    let runJob: FarmJobRunner
    let operations: OperationBoard
    let logger: Logger

    func execute(request: Build_Bazel_Remote_Execution_V2_ExecuteRequest, response: RPCWriter<Operation>, context: ServerContext) async throws {
        let actionDigest = try request.actionDigest.checked()
        let operation = OperationStages(name: "operations/\(UUID().uuidString)", actionDigest: request.actionDigest)
        let action: Build_Bazel_Remote_Execution_V2_Action = try await message(actionDigest)
        if !request.skipCacheLookup, let cached = try await ActionCacheService.servable(actionDigest, actionCache: actionCache, cas: cas) {
            return try await response.write(operation.completed(ExecuteOutcome.response(cached, cached: true)))
        }
        let command: Build_Bazel_Remote_Execution_V2_Command = try await message(try action.commandDigest.checked())
        let job = try ActionCommand(command)
        let image = try ActionPlatform.containerImage(of: action, command: command)
        try await response.write(operation.stage(.queued))
        var phases = PhaseLog()
        let inputs = try await InputRootArchive(cas: cas).tar(of: try action.inputRootDigest.checked())
        phases.end("inputs_tar")
        // From here the action runs on the board: a client whose stream breaks can follow it again.
        let following = operations.start(try operation.stage(.executing)) { [self, phases] in
            await run(
                FarmJob(command: job.command, outputs: job.outputs, inputsTar: inputs, containerImage: image), of: job, action: action,
                actionDigest: actionDigest, operation: operation, phases: phases)
        }
        try await Self.forward(following, to: response)
    }

    /// WaitExecution: the operation's stages again, from the latest on, for an Execute running or ended lately.
    func waitExecution(
        request: Build_Bazel_Remote_Execution_V2_WaitExecutionRequest, response: RPCWriter<Operation>, context: ServerContext
    )
        async throws
    {
        guard let following = operations.follow(request.name) else {
            throw RPCError(
                code: .notFound, message: "operation '\(request.name.prefix(100))' is not known here (or ended long ago); execute the action again")
        }
        try await Self.forward(following, to: response)
    }

    /// The action's run on the farm and its results, as the operation that ends it.
    private func run(
        _ farmJob: FarmJob, of job: ActionCommand, action: Build_Bazel_Remote_Execution_V2_Action, actionDigest: BlobDigest,
        operation: OperationStages, phases: PhaseLog
    ) async -> Operation {
        var phases = phases
        let outcome: Build_Bazel_Remote_Execution_V2_ExecuteResponse
        do {
            let complete = try await runJob(farmJob)
            phases.end("farm_job")
            let result = try await ActionResultAssembly(cas: cas).store(complete, files: job.outputFiles, directories: job.outputDirectories)
            if result.exitCode == 0, !action.doNotCache {
                try await actionCache.write(try result.serializedBytes(), as: actionDigest)
            }
            phases.end("results_stored")
            logger.debug(
                "REAPI action timeline", metadata: ["action": "\(actionDigest)", "phases": "\(phases)", "inputs": "\(farmJob.inputsTar.count)"])
            outcome = ExecuteOutcome.response(result, cached: false)
        } catch  where Task.isCancelled {
            // However the cancellation surfaced (CancellationError, an aborted transfer), nobody follows the action.
            logger.info("REAPI action cancelled: nobody followed its operation", metadata: ["action": "\(actionDigest)"])
            outcome = ExecuteOutcome.failure(
                code: .cancelled, message: "nobody followed the operation for \(operations.grace); its job was cancelled")
        } catch {
            logger.warning("REAPI action failed on the farm", metadata: ["action": "\(actionDigest)", "error": "\(error)"])
            outcome = ExecuteOutcome.failure(error)
        }
        return operation.ended(outcome)
    }

    /// Writes a following's operations to the stream until the one that is done. A stream the client closed stops
    /// the following (gRPC says so through its cancellation handle, not by cancelling the handler's task).
    static func forward(_ following: OperationBoard.Following, to response: RPCWriter<Operation>) async throws {
        defer { following.stop() }
        try await withRPCCancellationHandler {
            for await operation in following.updates { try await response.write(operation) }
        } onCancelRPC: {
            following.stop()
        }
    }

    private func message<M: SwiftProtobuf.Message>(_ digest: BlobDigest) async throws -> M {
        guard let bytes = try await cas.read(digest) else { throw InputRootArchive.missing(digest) }
        do {
            return try M(serializedBytes: bytes)
        } catch {
            throw RPCError(code: .invalidArgument, message: "the blob \(digest) is not a \(M.protoMessageName) message")
        }
    }
}

/// Milliseconds of each phase of an Execute, for the debug log.
struct PhaseLog: CustomStringConvertible {
    private var mark = ContinuousClock.now
    private var phases: [(String, Duration)] = []

    mutating func end(_ phase: String) {
        let now = ContinuousClock.now
        phases.append((phase, mark.duration(to: now)))
        mark = now
    }

    var description: String {
        phases.map { name, duration in
            "\(name)=\(Double(duration.components.attoseconds / 1_000_000_000_000) / 1000 + Double(duration.components.seconds) * 1000) ms"
        }
        .joined(separator: " ")
    }
}
