import CJobSpawn
import Foundation

/// Where `kiln-job-parker` is: the small static program a ``ParkedProcess`` runs while it waits for its job. It is
/// built and installed beside `builder-server`; `KILN_JOB_PARKER` names another path.
public enum JobParker {
    public static let executableName = "kiln-job-parker"
    /// The command of a sandbox started ahead (``ParkedProcess/startSandboxAhead(_:)``): the parker's own program,
    /// passed as descriptor 5 (so nothing of it is in the sandbox's filesystem), as the stub that takes the job.
    public static let stubCommand = ["/proc/self/fd/5", "stub"]

    /// The parker's path, or nil when it is not there (jobs then start without being parked ahead).
    public static let path: String? = {
        if let named = ProcessInfo.processInfo.environment["KILN_JOB_PARKER"] { return executable(named) }
        guard let server = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return executable((server as NSString).deletingLastPathComponent + "/" + executableName)
    }()

    private static func executable(_ path: String) -> String? { FileManager.default.isExecutableFile(atPath: path) ? path : nil }
}

extension JobParker {
    /// The arguments of a stub that reads its command on stdin (a docker sandbox's exec started ahead): it writes
    /// ``stdinStubGreeting`` to stdout once it runs, waits for ``stubMessage(for:cwd:)``, and writes
    /// ``stdinStubAcknowledgement`` once it has it, before the command's own output.
    public static let stdinStubArguments = ["stub-stdin"]
    public static let stdinStubGreeting = Array("K".utf8)
    public static let stdinStubAcknowledgement: UInt8 = UInt8(ascii: "G")

    /// The message that makes a stub enter `cwd` and become `process` (its cgroups and user are not used: the stub
    /// is where it runs already, as whom it runs); nil when out of memory.
    public static func stubMessage(for process: JobProcess, cwd: String) -> [UInt8]? {
        process.withRequest(cgroupFDs: []) { request in
            var message = kiln_buffer(bytes: nil, count: 0)
            guard kiln_encode_command(&request, cwd, 0, &message) == 0, let bytes = message.bytes else { return nil }
            defer { kiln_buffer_free(&message) }
            return Array(UnsafeBufferPointer(start: bytes, count: message.count))
        }
    }
}
