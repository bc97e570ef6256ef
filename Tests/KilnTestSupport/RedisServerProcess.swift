import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `redis-server` (Debian's) on 127.0.0.1 for one test, with no persistence, stopped by its PID. It can be
/// stopped and started again on the same port, as an outage and its end.
public final class RedisServerProcess: @unchecked Sendable {
    /// The server binary, or nil when Debian's `redis-server` is not installed.
    public static let executable = ["/usr/bin/redis-server", "/usr/sbin/redis-server"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    public static let missingReason = "needs Debian's redis-server (apt install redis-server)"

    public let port: UInt16
    public let password: String?
    private let directory: TemporaryDirectory
    private var process: ManagedProcess?

    public var url: String { "redis://\(password.map { ":\($0)@" } ?? "")127.0.0.1:\(port)" }

    public init(password: String? = nil) throws {
        self.password = password
        directory = try TemporaryDirectory(prefix: "kiln-redis")
        port = freePort()
        try start()
    }

    /// Starts the server (again) and waits until it accepts connections.
    public func start() throws {
        guard process == nil, let executable = Self.executable else { return }
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path, "--daemonize", "no",
        ]
        if let password { arguments += ["--requirepass", password] }
        let process = try ManagedProcess("redis-\(port)", executable: executable, arguments: arguments, logDirectory: directory.path)
        self.process = process
        for _ in 0..<500 {
            if let descriptor = try LoopbackConnection.open(port: port) {
                close(descriptor)
                return
            }
            guard process.isRunning else { break }
            usleep(10_000)
        }
        stop()
        throw TestFailure("redis-server did not start:\n\(log)")
    }

    /// Stops the server by its PID and waits for it to exit.
    public func stop() {
        process?.stop()
        process = nil
    }

    public var log: String { (try? String(contentsOfFile: directory.path + "/redis-\(port).log", encoding: .utf8)) ?? "" }

    deinit { stop() }
}
