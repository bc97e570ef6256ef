import ContentStore
import Foundation
import GRPCCore
import REAPIWire
import SwiftProtobuf

/// REAPI's ContentAddressableStorage over the scheduler's blob store. Any instance name is one and the same store.
struct ContentStorageService: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.SimpleServiceProtocol {
    typealias Wire = Build_Bazel_Remote_Execution_V2_ContentAddressableStorage
    let cas: DiskBlobStore

    func findMissingBlobs(
        request: Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest, context: ServerContext
    ) async throws -> Build_Bazel_Remote_Execution_V2_FindMissingBlobsResponse {
        let digests = try request.blobDigests.map { try $0.checked() }
        var response = Build_Bazel_Remote_Execution_V2_FindMissingBlobsResponse()
        response.missingBlobDigests = await cas.missing(digests).map(Digest.init)
        return response
    }

    /// Each blob succeeds or fails on its own; a blob whose bytes do not match its digest is refused and stored
    /// under no name.
    func batchUpdateBlobs(
        request: Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest, context: ServerContext
    ) async throws -> Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse {
        var response = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse()
        for blob in request.requests {
            var answer = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse.Response()
            answer.digest = blob.digest
            do {
                try await cas.write([UInt8](blob.data), as: try blob.digest.checked())
                answer.status = .ok
            } catch {
                answer.status = Google_Rpc_Status(error)
            }
            response.responses.append(answer)
        }
        return response
    }

    func batchReadBlobs(
        request: Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest, context: ServerContext
    ) async throws -> Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse {
        let digests = try request.digests.map { try $0.checked() }
        let total = digests.reduce(Int64(0)) { $0 + $1.sizeBytes }
        guard total <= REAPILimits.maxBatchTotalBytes else {
            throw RPCError(
                code: .invalidArgument,
                message:
                    "the blobs asked for total \(total) bytes, more than max_batch_total_size_bytes (\(REAPILimits.maxBatchTotalBytes)); read the larger ones with ByteStream"
            )
        }
        var response = Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse()
        for digest in digests {
            var answer = Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse.Response()
            answer.digest = Digest(digest)
            do {
                if let bytes = try await cas.read(digest) {
                    answer.data = Data(bytes)
                    answer.status = .ok
                } else {
                    answer.status = Google_Rpc_Status(code: .notFound, message: "\(digest) is not in the CAS")
                }
            } catch {
                answer.status = Google_Rpc_Status(error)
            }
            response.responses.append(answer)
        }
        return response
    }

    /// The directories under a root, breadth first, in pages; the page token is how many came before. Directories
    /// not in the CAS are left out, as the API says.
    func getTree(
        request: Build_Bazel_Remote_Execution_V2_GetTreeRequest, response: RPCWriter<Build_Bazel_Remote_Execution_V2_GetTreeResponse>,
        context: ServerContext
    ) async throws {
        let root = try request.rootDigest.checked()
        guard let start = request.pageToken.isEmpty ? 0 : Int(request.pageToken), start >= 0 else {
            throw RPCError(code: .invalidArgument, message: "'\(request.pageToken)' is not a page token of this server")
        }
        let pageSize = request.pageSize > 0 ? Int(request.pageSize) : 1000
        let directories = try await DirectoryWalk(cas: cas).directories(under: root)
        guard !directories.isEmpty else { throw RPCError(code: .notFound, message: "the root directory \(root) is not in the CAS") }
        var offset = min(start, directories.count)
        repeat {
            var page = Build_Bazel_Remote_Execution_V2_GetTreeResponse()
            let end = min(directories.count, offset + pageSize)
            page.directories = Array(directories[offset..<end])
            offset = end
            if offset < directories.count { page.nextPageToken = String(offset) }
            try await response.write(page)
        } while offset < directories.count
    }
}
