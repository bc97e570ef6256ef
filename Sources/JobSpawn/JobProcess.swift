import CJobSpawn
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a job's first process directly, with no helper program in between: in a session of its own, already
/// inside the job's cgroups and under its rlimits when it execs (so everything it starts is bounded), stdin from
/// /dev/null, no inherited descriptor, default signal dispositions and an empty signal mask. Before this, a shell
/// that joined the cgroups and `prlimit` were started in front of every job: two program starts per job.
public struct JobProcess: Sendable {
    /// An rlimit set before exec, soft and hard alike.
    public struct ResourceLimit: Sendable, Hashable {
        public var resource: Int32
        public var value: UInt64
        public init(resource: Int32, value: UInt64) {
            self.resource = resource
            self.value = value
        }
        public static func core(_ bytes: UInt64) -> Self { Self(resource: Int32(KILN_RLIMIT_CORE), value: bytes) }
        public static func fileSize(_ bytes: UInt64) -> Self { Self(resource: Int32(KILN_RLIMIT_FSIZE), value: bytes) }
        public static func addressSpace(_ bytes: UInt64) -> Self { Self(resource: Int32(KILN_RLIMIT_AS), value: bytes) }
        public static func processes(_ count: UInt64) -> Self { Self(resource: Int32(KILN_RLIMIT_NPROC), value: count) }
    }

    /// How a run ended.
    public enum Ending: Sendable, Hashable {
        case exited(Int32)
        case signaled(Int32)
        /// The deadline passed; the process group was killed.
        case timedOut
        /// The calling task was cancelled; the process group was killed.
        case cancelled
        /// stdout or stderr passed the limit; the process group was killed.
        case streamTooLarge
        /// The program never ran: `stage` failed with `errno`.
        case notStarted(stage: String, errno: Int32)
    }

    public struct Outcome: Sendable {
        public var ending: Ending
        public var stdout: [UInt8]
        public var stderr: [UInt8]
    }

    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    /// `cgroup.procs` files the process joins before exec.
    public var cgroupProcsFiles: [String]
    public var limits: [ResourceLimit]
    /// The user the process becomes before exec (no supplementary groups); nil keeps the server's.
    public var user: User?
    /// A file opened read-only as descriptor ``filterDescriptor`` before exec (bubblewrap's `--seccomp`).
    public var filterPath: String?

    /// A uid and gid to run as.
    public struct User: Sendable, Hashable {
        public var uid: UInt32
        public var gid: UInt32
        public init(uid: UInt32, gid: UInt32) {
            self.uid = uid
            self.gid = gid
        }
    }

    /// The descriptor a process finds its ``filterPath`` file at.
    public static let filterDescriptor = Int(KILN_FILTER_FD)

    public init(
        executable: String, arguments: [String], environment: [String: String] = [:], cgroupProcsFiles: [String] = [], limits: [ResourceLimit] = [],
        user: User? = nil, filterPath: String? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.cgroupProcsFiles = cgroupProcsFiles
        self.limits = limits
        self.user = user
        self.filterPath = filterPath
    }

    /// Blocking runs wait on threads of their own, never on Swift's cooperative pool.
    static let waiters = DispatchQueue(label: "kiln.job-process", attributes: .concurrent)

    /// Runs the process to its end, keeping at most `maxStreamBytes` of stdout and of stderr.
    public func run(timeout: Duration?, maxStreamBytes: Int) async -> Outcome {
        await Self.waiting(timeout: timeout) { timeoutMilliseconds, cancelFD in
            var cgroupFDs: [Int32] = []
            defer { cgroupFDs.forEach { kiln_close($0) } }
            for path in cgroupProcsFiles {
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { return Outcome(ending: .notStarted(stage: "open \(path)", errno: errno), stdout: [], stderr: []) }
                cgroupFDs.append(fd)
            }
            return withRequest(cgroupFDs: cgroupFDs) { request in
                Self.collect { out, err, result in kiln_run(&request, timeoutMilliseconds, cancelFD, maxStreamBytes, &out, &err, &result) }
            }
        }
    }

    /// Runs `body` (a blocking wait) on a thread of its own with a cancel descriptor that the calling task's
    /// cancellation signals.
    static func waiting(timeout: Duration?, _ body: @escaping @Sendable (Int32, Int32) -> Outcome) async -> Outcome {
        let cancelFD = kiln_cancel_fd()
        guard cancelFD >= 0 else { return Outcome(ending: .notStarted(stage: "eventfd", errno: -cancelFD), stdout: [], stderr: []) }
        defer { kiln_close(cancelFD) }
        let milliseconds = timeout.map { Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters.async { continuation.resume(returning: body(milliseconds, cancelFD)) }
            }
        } onCancel: {
            kiln_cancel(cancelFD)
        }
    }

    /// This process as a C request, valid inside `body`.
    func withRequest<T>(cgroupFDs: [Int32], _ body: (inout kiln_spawn_request) -> T) -> T {
        let argv = CStringArray([executable] + arguments)
        let envp = CStringArray(environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        let rlimits = limits.map { kiln_rlimit(resource: $0.resource, value: $0.value) }
        let filter = filterPath.map { strdup($0) }
        defer { filter.map { free($0) } }
        return executable.withCString { path in
            cgroupFDs.withUnsafeBufferPointer { fds in
                rlimits.withUnsafeBufferPointer { limits in
                    var request = kiln_spawn_request(
                        path: path, argv: argv.pointers, envp: envp.pointers, cgroup_fds: fds.baseAddress, cgroup_fd_count: Int32(fds.count),
                        limits: limits.baseAddress, limit_count: Int32(limits.count), uid: user.map { Int32(bitPattern: $0.uid) } ?? -1,
                        gid: user.map { Int32(bitPattern: $0.gid) } ?? -1, filter_path: filter.map { UnsafePointer($0!) })
                    return withExtendedLifetime((argv, envp)) { body(&request) }
                }
            }
        }
    }

    /// Runs a kiln_run-like call and turns its buffers and result into an ``Outcome``.
    static func collect(_ call: (inout kiln_buffer, inout kiln_buffer, inout kiln_run_result) -> Void) -> Outcome {
        var out = kiln_buffer(bytes: nil, count: 0)
        var err = kiln_buffer(bytes: nil, count: 0)
        var result = kiln_run_result()
        call(&out, &err, &result)
        defer {
            kiln_buffer_free(&out)
            kiln_buffer_free(&err)
        }
        return Outcome(ending: ending(of: result), stdout: bytes(of: out), stderr: bytes(of: err))
    }

    static func ending(of result: kiln_run_result) -> Ending {
        switch result.outcome {
        case 0: .exited(result.code)
        case 1: .signaled(result.signal)
        case 2: .timedOut
        case 3: .cancelled
        case 4: .streamTooLarge
        default: .notStarted(stage: result.stage.map { String(cString: $0) } ?? "start", errno: result.error)
        }
    }

    private static func bytes(of buffer: kiln_buffer) -> [UInt8] {
        guard let base = buffer.bytes, buffer.count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: buffer.count))
    }
}

/// A NULL-terminated array of C strings that lives as long as this value.
final class CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[count] = nil
    }

    deinit {
        for index in 0..<count { free(pointers[index]) }
        pointers.deallocate()
    }
}
