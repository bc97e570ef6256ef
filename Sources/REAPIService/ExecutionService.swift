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
/// the action cache. The stream says QUEUED, EXECUTING, then COMPLETED; a client that closes it cancels the job.
struct ExecutionService: Build_Bazel_Remote_Execution_V2_Execution.SimpleServiceProtocol {
    typealias Operation = Google_Longrunning_Operation
    let cas: DiskBlobStore
    let actionCache: DiskBlobStore
    let runJob: FarmJobRunner
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
        try await response.write(operation.stage(.executing))
        let outcome: Build_Bazel_Remote_Execution_V2_ExecuteResponse
        do {
            let complete = try await Self.cancellingWithRPC { [runJob] in
                try await runJob(FarmJob(command: job.command, outputs: job.outputs, inputsTar: inputs, containerImage: image))
            }
            phases.end("farm_job")
            let result = try await ActionResultAssembly(cas: cas).store(complete, files: job.outputFiles, directories: job.outputDirectories)
            if result.exitCode == 0, !action.doNotCache {
                try await actionCache.write(try result.serializedBytes(), as: actionDigest)
            }
            phases.end("results_stored")
            logger.debug("REAPI action timeline", metadata: ["action": "\(actionDigest)", "phases": "\(phases)", "inputs": "\(inputs.count)"])
            outcome = ExecuteOutcome.response(result, cached: false)
        } catch let error as CancellationError {
            throw error
        } catch {
            logger.warning("REAPI action failed on the farm", metadata: ["action": "\(actionDigest)", "error": "\(error)"])
            outcome = ExecuteOutcome.failure(error)
        }
        try await response.write(operation.completed(outcome))
    }

    /// Runs `operation` in a task of its own, cancelled when the RPC is: gRPC tells a handler of a closed stream
    /// through its cancellation handle, not by cancelling the handler's task.
    static func cancellingWithRPC<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await operation() }
        return try await withTaskCancellationHandler {
            try await withRPCCancellationHandler {
                try await task.value
            } onCancelRPC: {
                task.cancel()
            }
        } onCancel: {
            task.cancel()
        }
    }

    /// Operations are not kept past their Execute stream: a client that lost one executes the action again
    /// (finished actions are served from the action cache).
    func waitExecution(
        request: Build_Bazel_Remote_Execution_V2_WaitExecutionRequest, response: RPCWriter<Operation>, context: ServerContext
    )
        async throws
    {
        throw RPCError(code: .notFound, message: "operation '\(request.name.prefix(100))' is not known here; execute the action again")
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
