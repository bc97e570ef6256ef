import ContentStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KilnConfiguration
import KilnProtocol
import KilnTestSupport
import REAPIService
import REAPIWire
import SwiftProtobuf
import Synchronization
import Testing
import WireStreams

/// The life of an Execute's operation past its stream: WaitExecution follows it again, an operation nobody follows
/// has its job cancelled, an ended one is answered for a while.
@Suite struct OperationFollowingTests {
    typealias Execution = Build_Bazel_Remote_Execution_V2_Execution
    typealias Operation = Google_Longrunning_Operation

    /// A farm whose one job runs until the test opens the gate, and records whether it was cancelled.
    final class GatedFarm: Sendable {
        let gate = AsyncStream.makeStream(of: Void.self)
        let runs = Mutex(0)
        let cancelled = Mutex(false)

        var runner: FarmJobRunner {
            { _ in
                self.runs.withLock { $0 += 1 }
                do {
                    try await withTaskCancellationHandler {
                        for await _ in self.gate.stream { return }
                        try Task.checkCancellation()
                    } onCancel: {
                        self.gate.continuation.finish()
                    }
                } catch {
                    self.cancelled.withLock { $0 = true }
                    throw error
                }
                return JobComplete(
                    output: ProcessOutput(code: 0, stdout: Array("done".utf8), stderr: []),
                    outputs: [NamedOutput(path: "out/main.o", data: try OutputData(compressing: ExecutionServiceTests.object))])
            }
        }
    }

    /// Executes `action` and closes the stream once it says EXECUTING; returns the operation's name.
    static func executeUntilExecuting(_ action: Digest, on client: GRPCClient<HTTP2ClientTransport.Posix>) async throws -> String {
        var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
        request.actionDigest = action
        // Returning from the handler ends the call: the stream closes under the running job.
        return try await Execution.Client(wrapping: client).execute(request) { response in
            for try await operation in response.messages where try stage(operation) == .executing { return operation.name }
            throw RPCError(code: .internalError, message: "the stream ended before EXECUTING")
        }
    }

    /// The operations a WaitExecution of `name` streams; `onFirst` runs when the first arrives.
    static func wait(
        _ name: String, on client: GRPCClient<HTTP2ClientTransport.Posix>, onFirst: @escaping @Sendable (Operation) -> Void = { _ in }
    ) async throws -> [Operation] {
        var request = Build_Bazel_Remote_Execution_V2_WaitExecutionRequest()
        request.name = name
        return try await Execution.Client(wrapping: client).waitExecution(request) { response in
            var operations: [Operation] = []
            for try await operation in response.messages {
                operations.append(operation)
                if operations.count == 1 { onFirst(operation) }
            }
            return operations
        }
    }

    static func stage(_ operation: Operation) throws -> Build_Bazel_Remote_Execution_V2_ExecutionStage.Value {
        try Build_Bazel_Remote_Execution_V2_ExecuteOperationMetadata(unpackingAny: operation.metadata).stage
    }

    /// A client whose Execute stream broke follows the running action with WaitExecution: it hears the stage the
    /// action is in, then its result; the farm ran the job once and did not cancel it.
    @Test func aBrokenStreamIsFollowedAgain() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let farm = GatedFarm()
        var configuration = REAPIHarness.configuration(directory)
        configuration.abandonedOperationGrace = .seconds(600)  // the test's pace must not matter
        try await REAPIHarness.withServer(configuration, runJob: farm.runner) { client async throws in
            let action = try await ExecutionServiceTests.uploadAction(to: client)
            let name = try await Self.executeUntilExecuting(action, on: client)
            #expect(name.hasPrefix("operations/"))
            // The job ends only once the follower heard the stage it is in.
            let operations = try await Self.wait(name, on: client) { _ in farm.gate.continuation.yield() }
            #expect(try operations.map(Self.stage) == [.executing, .completed])
            #expect(operations.allSatisfy { $0.name == name })
            let response = try ExecutionServiceTests.response(operations)
            #expect(response.status.code == 0)
            #expect(response.result.exitCode == 0 && response.result.outputFiles.map(\.path) == ["out/main.o"])
            // Ended, it is still answered: the last operation alone.
            let again = try await Self.wait(name, on: client)
            #expect(again.count == 1 && again.first?.done == true)
            #expect(try ExecutionServiceTests.response(again) == response)
        }
        #expect(farm.runs.withLock { $0 } == 1)
        #expect(!farm.cancelled.withLock { $0 })
    }

    /// A client that closes its Execute stream and does not follow again cancels the job on the farm after the
    /// grace (the builder then kills it, as it does for an sccache client that disconnects); a late WaitExecution
    /// hears CANCELLED.
    @Test func anAbandonedOperationCancelsItsJob() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let farm = GatedFarm()
        var configuration = REAPIHarness.configuration(directory)
        configuration.abandonedOperationGrace = .milliseconds(100)
        try await REAPIHarness.withServer(configuration, runJob: farm.runner) { client async throws in
            let name = try await Self.executeUntilExecuting(try await ExecutionServiceTests.uploadAction(to: client), on: client)
            for _ in 0..<1000 where !farm.cancelled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(farm.cancelled.withLock { $0 }, "the farm's job was cancelled once nobody followed it")
            var ended: [Operation] = []
            for _ in 0..<500 where ended.first?.done != true {
                ended = try await Self.wait(name, on: client)
                if ended.first?.done != true { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(try ExecutionServiceTests.response(ended).status.code == Int32(RPCError.Code.cancelled.rawValue))
        }
        #expect(farm.runs.withLock { $0 } == 1)
    }

    /// An operation that was never started here is NOT_FOUND.
    @Test func anUnknownOperationIsNotFound() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory), runJob: GatedFarm().runner) { client async throws in
            let error = await #expect(throws: RPCError.self) { _ = try await Self.wait("operations/nothing-here", on: client) }
            #expect(error?.code == .notFound)
        }
    }
}
