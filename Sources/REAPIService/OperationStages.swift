import Foundation
import GRPCCore
import REAPIWire
import SwiftProtobuf

/// The long-running operation of one Execute as its stream reports it: the stage in the metadata, and at the end
/// the ExecuteResponse.
struct OperationStages {
    let name: String
    let actionDigest: Build_Bazel_Remote_Execution_V2_Digest

    func stage(_ stage: Build_Bazel_Remote_Execution_V2_ExecutionStage.Value) throws -> Google_Longrunning_Operation {
        var metadata = Build_Bazel_Remote_Execution_V2_ExecuteOperationMetadata()
        metadata.stage = stage
        metadata.actionDigest = actionDigest
        var operation = Google_Longrunning_Operation()
        operation.name = name
        operation.metadata = try Google_Protobuf_Any(message: metadata)
        return operation
    }

    func completed(_ response: Build_Bazel_Remote_Execution_V2_ExecuteResponse) throws -> Google_Longrunning_Operation {
        var operation = try stage(.completed)
        operation.done = true
        operation.response = try Google_Protobuf_Any(message: response)
        return operation
    }

    /// ``completed(_:)``, or, should the response not pack, an operation that is done with an INTERNAL error.
    func ended(_ response: Build_Bazel_Remote_Execution_V2_ExecuteResponse) -> Google_Longrunning_Operation {
        if let operation = try? completed(response) { return operation }
        var operation = Google_Longrunning_Operation()
        operation.name = name
        operation.done = true
        operation.error = Google_Rpc_Status(code: .internalError, message: "the action's response could not be encoded")
        return operation
    }
}

/// The ExecuteResponse of a finished action, or of one the farm could not run.
enum ExecuteOutcome {
    static func response(_ result: Build_Bazel_Remote_Execution_V2_ActionResult, cached: Bool) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        var response = Build_Bazel_Remote_Execution_V2_ExecuteResponse()
        response.result = result
        response.cachedResult = cached
        response.status = .ok
        return response
    }

    /// The action did not run to an end: the error's status, which tells the client whether trying again can help
    /// (`UNAVAILABLE`: no builder free) or not (`INTERNAL`, `INVALID_ARGUMENT`: the action itself failed the farm).
    static func failure(_ error: any Error) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        failure(status: Google_Rpc_Status(error))
    }

    static func failure(code: RPCError.Code, message: String) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        failure(status: Google_Rpc_Status(code: code, message: message))
    }

    private static func failure(status: Google_Rpc_Status) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        var response = Build_Bazel_Remote_Execution_V2_ExecuteResponse()
        response.status = status
        response.message = status.message
        return response
    }
}
