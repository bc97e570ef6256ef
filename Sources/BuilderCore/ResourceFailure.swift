import KilnProtocol

/// Tells a compile that failed for want of resources from one that failed on its source. The first is no result:
/// stored, it would be handed to every identical job for `failure_ttl`, and answered, it would fail the client's
/// build although a local compile would succeed. Limits a sandbox enforces without seeing them hit (rlimits: an
/// allocation, a fork or a write refused) show only in what the compiler printed and in a kill's exit status.
public enum ResourceFailure {
    /// What the C library and the usual tools print when memory, processes, files or disk run out.
    static let markers = [
        "Cannot allocate memory", "out of memory", "Out of memory", "memory exhausted", "memory allocation of",
        "No space left on device", "Disk quota exceeded", "File too large", "File size limit exceeded",
        "Resource temporarily unavailable", "cannot fork", "Cannot fork", "Too many open files", "Too many processes",
        "Killed signal terminated program", "terminated with signal 9", "terminated with signal 25", "got fatal signal 9",
    ]

    /// Exit statuses of a shell or engine whose command was killed (SIGKILL: an out-of-memory kill) or passed
    /// the file size limit (SIGXFSZ); a compiler never exits with these itself.
    static let killedStatuses: Set<Int32> = [128 + 9, 128 + 25]

    /// Why `output` looks like a compile that ran out of a resource, or nil (a success, or a compile error).
    public static func reason(in output: ProcessOutput) -> String? {
        guard output.code != 0 else { return nil }
        if killedStatuses.contains(output.code) { return "it exited with status \(output.code) (killed by the kernel)" }
        for stream in [output.stderr, output.stdout] {
            let text = String(decoding: stream, as: UTF8.self)
            if let marker = markers.first(where: text.contains) { return "it printed '\(marker)'" }
        }
        return nil
    }
}
