import Foundation
import JobSpawn
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Finished jobs' directories, emptied and kept for the next sandboxes (root mode): a job's tree is
/// `{upper,work,root}` with the mount points of ``SandboxRoot`` in `upper`, eight directories made and deleted per
/// job otherwise. Each costs the disk filesystem an inode allocated and freed, and ext4 without a journal (this
/// project's CI machines) scans past every inode freed in the last minutes on each allocation: a third of a root
/// builder's own CPU per trivial job went to the ~20 allocations a job made there. A kept tree costs two renames
/// and the removal of what the job itself wrote. (Trees on a tmpfs, `jobs_dir`, avoid the disk altogether.)
final class SpareJobTrees: Sendable {
    private let state = Mutex<(spares: [String], next: Int)>(([], 0))
    /// Where kept trees wait, as `spare-<n>`.
    let directory: String
    let capacity: Int

    init(in directory: String, capacity: Int = 8) {
        self.directory = directory
        self.capacity = capacity
    }

    /// Makes `jobDirectory` a job's tree, from a kept one when there is one. Blocking.
    func make(_ jobDirectory: String, user: JobProcess.User?) throws {
        if let spare = state.withLock({ $0.spares.popLast() }) {
            if rename(spare, jobDirectory) == 0 { return }
            _ = SandboxTree.removeTree(spare)
        }
        for layer in ["upper", "work", "root"] {
            try FileManager.default.createDirectory(atPath: jobDirectory + "/" + layer, withIntermediateDirectories: true)
        }
        try SandboxRoot.makeMountPoints(in: jobDirectory + "/upper", user: user)
    }

    /// Keeps the tree of a finished job, its overlay unmounted, emptied down to what ``make(_:user:)`` makes. False
    /// (the caller deletes it) when enough are kept or the tree is not as ``make(_:user:)`` left it. Blocking.
    func keep(_ jobDirectory: String, user: JobProcess.User?) -> Bool {
        let name = state.withLock { state -> String? in
            guard state.spares.count < capacity else { return nil }
            defer { state.next += 1 }
            return "\(directory)/spare-\(state.next)"
        }
        guard let name else { return false }
        guard Self.emptyToSkeleton(jobDirectory, user: user), rename(jobDirectory, name) == 0 else { return false }
        state.withLock { $0.spares.append(name) }
        return true
    }

    /// Forgets the kept trees and returns their paths (to delete).
    func takeAll() -> [String] {
        state.withLock { state in
            defer { state.spares = [] }
            return state.spares
        }
    }

    /// The skeleton, relative to a job's directory: each directory with the entries it keeps. `upper` and each
    /// mount point keep the mount points directly below them. Worked out once, not for every finished job.
    static let skeleton: [(directory: String, keeping: Set<String>)] = {
        let points = SandboxRoot.mountPoints.map(\.path)
        let inUpper = ([""] + points).map { directory -> (String, Set<String>) in
            let prefix = directory.isEmpty ? "" : directory + "/"
            let below = points.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
            return ("/upper" + (directory.isEmpty ? "" : "/" + directory), Set(below.map { String($0.dropFirst(prefix.count)) }))
        }
        return [("", ["upper", "work", "root"]), ("/work", []), ("/root", [])] + inUpper
    }()

    /// Removes all but the skeleton, never following a symlink: a skeleton entry that is not a plain directory
    /// fails it. The mount points' modes and owner are set again.
    static func emptyToSkeleton(_ jobDirectory: String, user: JobProcess.User?) -> Bool {
        guard skeleton.allSatisfy({ SandboxTree.removeContents(of: jobDirectory + $0.directory, keeping: $0.keeping) }) else { return false }
        return (try? SandboxRoot.makeMountPoints(in: jobDirectory + "/upper", user: user)) != nil
    }
}
