import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a child with posix_spawn, output appended to `logPath`, stdin from /dev/null.
///
/// Not Foundation's `Process`: it detects exit through a pipe the child inherits, so a child that leaves a
/// daemon behind (`sccache --start-server`) never looks finished. Here exit is `waitpid` on the PID.
public func spawnChild(
    _ executable: String, _ arguments: [String], environment: [String: String], directory: String?, logPath: String
) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // glibc's addchdir_np is not visible to Swift; coreutils' `env -C` changes directory just as well.
    let command = directory.map { ["/usr/bin/env", "-C", $0, executable] + arguments } ?? [executable] + arguments
    let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let argv = command.map { strdup($0) } + [nil]
    let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    // The test process blocks signals in some threads; a child inheriting a blocked SIGCHLD never reaps its own
    // children (sccache's server then hangs on every local compile). Start children with a clean mask.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGCHLD, SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let status = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
    guard status == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(status)))") }
    return pid
}

/// Waits for `pid` until `deadline`; nil if it is still running then.
public func waitForExit(_ pid: pid_t, until deadline: Date) -> Int32? {
    var status: Int32 = 0
    while true {
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F) }
        if result < 0 { return -1 }
        if Date() >= deadline { return nil }
        usleep(20_000)
    }
}

/// A long-running child of a test, stopped by its PID (SIGTERM, then SIGKILL after 5 s), never by name.
public final class ManagedProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String
    public let name: String
    private var exited = false

    public init(_ name: String, executable: String, arguments: [String], environment: [String: String] = [:], logDirectory: String) throws {
        self.name = name
        logPath = "\(logDirectory)/\(name).log"
        pid = try spawnChild(executable, arguments, environment: environment, directory: nil, logPath: logPath)
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// True while the process has not exited (a crash would show here).
    public var isRunning: Bool { !exited && waitpid(pid, nil, WNOHANG) == 0 }

    /// Waits up to `seconds` for the exit (after a signal the test sent); its status, or nil if it was still
    /// running (then it is killed).
    public func exitStatus(waitingSeconds seconds: Double) -> Int32? {
        guard !exited else { return nil }
        exited = true
        if let status = waitForExit(pid, until: Date().addingTimeInterval(seconds)) { return status }
        kill(pid, SIGKILL)
        _ = waitForExit(pid, until: Date().addingTimeInterval(5))
        return nil
    }

    public func stop() {
        guard !exited else { return }
        exited = true
        kill(pid, SIGTERM)
        if waitForExit(pid, until: Date().addingTimeInterval(5)) == nil {
            kill(pid, SIGKILL)
            _ = waitForExit(pid, until: Date().addingTimeInterval(5))
        }
    }

    deinit { stop() }
}

/// Runs a command to completion with a deadline (killed after it); returns its exit status and output.
@discardableResult
public func runToCompletion(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
    timeoutSeconds: Double = 120
) throws -> (status: Int32, output: String) {
    let logPath = NSTemporaryDirectory() + "/kiln-run-\(UUID().uuidString).log"
    defer { unlink(logPath) }
    let pid = try spawnChild(executable, arguments, environment: environment, directory: directory, logPath: logPath)
    let status = waitForExit(pid, until: Date().addingTimeInterval(timeoutSeconds))
    let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    guard let status else {
        kill(pid, SIGKILL)
        _ = waitForExit(pid, until: Date().addingTimeInterval(5))
        throw TestFailure("\(executable) \(arguments.joined(separator: " ")) timed out after \(timeoutSeconds) s:\n\(output)")
    }
    return (status, output)
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return UInt16(bigEndian: address.sin_port)
}
