import ContentStore
import REAPIWire
import SwiftProtobuf

/// A REAPI `Tree` (an output directory: its root `Directory` and every directory below it) made from the paths a
/// builder returned, relative to the output directory: directories (with a trailing `/`, `""` for the root itself)
/// and files with their digests. Entries are sorted by name, as the API requires of a `Directory`.
struct OutputTreeBuilder {
    private struct Node {
        var files: [String: (digest: Build_Bazel_Remote_Execution_V2_Digest, isExecutable: Bool)] = [:]
        var directories: Set<String> = []
    }
    /// Directory path ("" for the root, "a/b" below it) → its entries.
    private var nodes: [String: Node] = ["": Node()]

    /// Notes the directory at `path` (`sub/dir/` or `sub/dir`), and its parents.
    mutating func addDirectory(_ path: String) {
        let components = path.split(separator: "/").map(String.init)
        for depth in components.indices {
            let parent = components[..<depth].joined(separator: "/")
            nodes[parent, default: Node()].directories.insert(components[depth])
            let own = components[...depth].joined(separator: "/")
            if nodes[own] == nil { nodes[own] = Node() }
        }
    }

    mutating func addFile(_ path: String, digest: Build_Bazel_Remote_Execution_V2_Digest, isExecutable: Bool) {
        var components = path.split(separator: "/").map(String.init)
        guard let name = components.popLast() else { return }
        let parent = components.joined(separator: "/")
        addDirectory(parent)
        nodes[parent, default: Node()].files[name] = (digest, isExecutable)
    }

    /// The tree: the root, and the other directories deepest first (each once), every node naming its children by
    /// the digest of their serialized `Directory`.
    func tree() throws -> Build_Bazel_Remote_Execution_V2_Tree {
        var messages: [String: Build_Bazel_Remote_Execution_V2_Directory] = [:]
        var digests: [String: Build_Bazel_Remote_Execution_V2_Digest] = [:]
        // Deepest first, so every child is made before its parent.
        for path in nodes.keys.sorted(by: { depth($0) > depth($1) || (depth($0) == depth($1) && $0 < $1) }) {
            let node = nodes[path]!
            var directory = Build_Bazel_Remote_Execution_V2_Directory()
            directory.files = node.files.keys.sorted().map { name in
                var file = Build_Bazel_Remote_Execution_V2_FileNode()
                (file.name, file.digest, file.isExecutable) = (name, node.files[name]!.digest, node.files[name]!.isExecutable)
                return file
            }
            directory.directories = node.directories.sorted().map { name in
                var child = Build_Bazel_Remote_Execution_V2_DirectoryNode()
                (child.name, child.digest) = (name, digests[path.isEmpty ? name : path + "/" + name]!)
                return child
            }
            messages[path] = directory
            digests[path] = Digest(BlobDigest.of(try directory.serializedBytes() as [UInt8]))
        }
        var tree = Build_Bazel_Remote_Execution_V2_Tree()
        tree.root = messages[""]!
        var seen: Set<Build_Bazel_Remote_Execution_V2_Digest> = [digests[""]!]
        for path in nodes.keys.sorted() where !path.isEmpty && seen.insert(digests[path]!).inserted {
            tree.children.append(messages[path]!)
        }
        return tree
    }

    private func depth(_ path: String) -> Int { path.isEmpty ? 0 : path.split(separator: "/").count }
}
