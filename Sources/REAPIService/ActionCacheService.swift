import ContentStore
import GRPCCore
import REAPIWire
import SwiftProtobuf

/// REAPI's ActionCache: action results kept by action digest. A result is served only while every blob it names
/// (outputs, the trees of output directories and their files, stdout, stderr) is still in the CAS; otherwise the
/// client is told NOT_FOUND and runs the action again, instead of failing to download an evicted output.
struct ActionCacheService: Build_Bazel_Remote_Execution_V2_ActionCache.SimpleServiceProtocol {
    typealias ActionResult = Build_Bazel_Remote_Execution_V2_ActionResult
    let actionCache: DiskBlobStore
    let cas: DiskBlobStore
    /// False: only the farm's own executions write results (clients cannot plant one).
    let clientUpdates: Bool

    func getActionResult(request: Build_Bazel_Remote_Execution_V2_GetActionResultRequest, context: ServerContext) async throws -> ActionResult {
        let action = try request.actionDigest.checked()
        guard let result = try await Self.servable(action, actionCache: actionCache, cas: cas) else {
            throw RPCError(code: .notFound, message: "no result of the action \(action) with all its outputs in the CAS")
        }
        return result
    }

    /// The cached result of `action` when every blob it names is in the CAS; nil otherwise.
    static func servable(_ action: BlobDigest, actionCache: DiskBlobStore, cas: DiskBlobStore) async throws -> ActionResult? {
        guard let bytes = try await actionCache.read(action), let result = try? ActionResult(serializedBytes: bytes) else { return nil }
        return await cas.missing(try await blobs(namedBy: result, cas: cas)).isEmpty ? result : nil
    }

    func updateActionResult(
        request: Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest, context: ServerContext
    ) async throws
        -> ActionResult
    {
        guard clientUpdates else {
            throw RPCError(
                code: .permissionDenied, message: "this farm's action cache takes results of its own executions only (client_updates = false)")
        }
        let action = try request.actionDigest.checked()
        // Every digest it names must at least be well formed: a result that cannot be served is refused now.
        _ = try await Self.blobs(namedBy: request.actionResult, cas: cas)
        try await actionCache.write(try request.actionResult.serializedBytes(), as: action)
        return request.actionResult
    }

    /// The blobs a result needs to be usable: its files, stdout and stderr, and each output directory's tree with
    /// the files in it.
    private static func blobs(namedBy result: ActionResult, cas: DiskBlobStore) async throws -> [BlobDigest] {
        var named = try result.outputFiles.map { try $0.digest.checked() }
        if result.hasStdoutDigest { named.append(try result.stdoutDigest.checked()) }
        if result.hasStderrDigest { named.append(try result.stderrDigest.checked()) }
        for directory in result.outputDirectories {
            let treeDigest = try directory.treeDigest.checked()
            named.append(treeDigest)
            guard let bytes = try await cas.read(treeDigest), let tree = try? Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: bytes) else {
                continue
            }
            for level in [tree.root] + tree.children {
                named += try level.files.map { try $0.digest.checked() }
            }
        }
        return named
    }
}
