import ArchiveKit
import BlockingPool
import Foundation
import JobSpawn
import KilnErrors

/// What a bubblewrap job's root holds before bubblewrap starts: the mount points of ``BubblewrapCommand``
/// (an unprivileged bubblewrap cannot create them in a root it does not own), `/dev/shm` as a directory of the
/// job's own layer, and a `/tmp` anyone may write (compilers put their temporary files there).
enum SandboxRoot {
    /// The mount points a job's layer holds, parents first, with their modes.
    static let mountPoints: [(path: String, mode: mode_t)] = [("proc", 0o755), ("dev", 0o755), ("dev/shm", 0o1777), ("tmp", 0o1777)]

    /// Creates `proc`, `dev`, `dev/shm` (sticky, owned by `user`) and `tmp` (sticky) in `upper`, the job's layer.
    static func makeMountPoints(in upper: String, user: JobProcess.User?) throws {
        for (name, mode) in mountPoints {
            let path = upper + "/" + name
            guard mkdir(path, mode) == 0 || errno == EEXIST, chmod(path, mode) == 0 else {
                throw SandboxError(.setup, "cannot create '\(path)' for the job's sandbox", cause: String(cString: strerror(errno)))
            }
        }
        if let user, chown(upper + "/dev/shm", user.uid, user.gid) != 0 {
            throw SandboxError(.setup, "cannot give '\(upper)/dev/shm' to the job's user", cause: String(cString: strerror(errno)))
        }
    }

    /// Writes the syscall filter of `architecture` to `path`, where bubblewrap's children open it.
    static func writeFilter(_ architecture: SyscallFilter.Architecture, to path: String) throws {
        do {
            try Data(SyscallFilter(for: architecture).program).write(to: URL(fileURLWithPath: path))
        } catch {
            throw SandboxError(.setup, "cannot write the syscall filter to '\(path)'", underlying: error)
        }
    }

    /// Unpacks the job's inputs (from memory or from their file) into `root` (the files `user` gets) and makes the
    /// directories it writes in.
    static func placeInputs(of job: SandboxJob, into root: String, layout: JobLayout, user: JobProcess.User?) async throws {
        let (path, bytes) = (job.inputsTarPath, job.inputsTar)
        try await BlockingWork.run {
            do {
                let extractor = SafeExtractor(limits: .jobInputs, owner: user.map { ($0.uid, $0.gid) })
                if let bytes { try extractor.extract(bytes: bytes, into: root) } else { try extractor.extract(file: path, into: root) }
            } catch let error as ArchiveError {
                throw SandboxError.inputsRefused(error)
            }
            for directory in layout.directories { try SandboxPaths.makeDirectories(directory, under: root, owner: user) }
        }
    }
}
