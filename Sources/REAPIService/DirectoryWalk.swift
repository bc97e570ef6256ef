import ContentStore
import GRPCCore
import REAPIWire
import SwiftProtobuf

/// Reads a tree of `Directory` messages out of the CAS, breadth first, each distinct directory once.
struct DirectoryWalk {
    let cas: DiskBlobStore
    /// More directories than any real input tree holds: a bound on the memory one request can take.
    static let maxDirectories = 200_000

    /// The directories under `root` (itself first); empty when the root is not in the CAS. A child that is not
    /// in the CAS is left out.
    func directories(under root: BlobDigest) async throws -> [Build_Bazel_Remote_Execution_V2_Directory] {
        var found: [Build_Bazel_Remote_Execution_V2_Directory] = []
        var seen: Set<BlobDigest> = [root]
        var queue = [root]
        var next = 0
        while next < queue.count {
            let digest = queue[next]
            next += 1
            guard let bytes = try await cas.read(digest) else { continue }
            let directory: Build_Bazel_Remote_Execution_V2_Directory
            do {
                directory = try Build_Bazel_Remote_Execution_V2_Directory(serializedBytes: bytes)
            } catch {
                throw RPCError(code: .invalidArgument, message: "the blob \(digest) is not a Directory message")
            }
            found.append(directory)
            for child in directory.directories {
                let childDigest = try child.digest.checked()
                guard seen.insert(childDigest).inserted else { continue }
                guard queue.count < Self.maxDirectories else {
                    throw RPCError(code: .resourceExhausted, message: "the tree under \(root) has more than \(Self.maxDirectories) directories")
                }
                queue.append(childDigest)
            }
        }
        return found
    }
}
