import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `redis-server` (Debian's) for one test, with no persistence, stopped by its PID: on 127.0.0.1, or on
/// another address through a launcher (`ip netns exec HOST`). It can be stopped and started again on the same port,
/// as an outage and its end.
public final class RedisServerProcess: @unchecked Sendable {
    /// The server binary, or nil when Debian's `redis-server` is not installed.
    public static let executable = ["/usr/bin/redis-server", "/usr/sbin/redis-server"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    /// Why no server can be started here, or nil.
    public static let missingReason: String? = executable == nil ? "needs Debian's redis-server (apt install redis-server)" : nil

    public private(set) var port: UInt16
    public let password: String?
    public let address: String
    private let launcher: [String]
    private let directory: TemporaryDirectory
    private var process: ManagedProcess?

    public var url: String { "redis://\(password.map { ":\($0)@" } ?? "")\(address):\(port)" }

    /// `launcher`: the command that runs redis-server where `address` is (empty: here, on 127.0.0.1).
    public init(password: String? = nil, address: String = "127.0.0.1", launcher: [String] = []) throws {
        (self.password, self.address, self.launcher) = (password, address, launcher)
        directory = try TemporaryDirectory(prefix: "kiln-redis")
        port = freePort()
        // A port found free can be taken by a test running alongside before redis-server binds it: then another.
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch  where attempt < 3 {
                port = freePort()
            }
        }
    }

    /// Starts the server (again) and waits until it accepts connections.
    public func start() throws {
        guard process == nil, let executable = Self.executable else { return }
        var arguments = [
            "--port", "\(port)", "--bind", address, "--save", "", "--appendonly", "no", "--dir", directory.path, "--daemonize", "no",
        ]
        if let password { arguments += ["--requirepass", password] }
        let command = launcher + [executable] + arguments
        let process = try ManagedProcess(
            "redis-\(port)", executable: command[0], arguments: Array(command.dropFirst()), logDirectory: directory.path)
        self.process = process
        let logged = log.count
        for _ in 0..<1000 {
            if log.dropFirst(logged).contains("Ready to accept connections") { return }
            guard process.isRunning else { break }
            usleep(10_000)
        }
        stop()
        throw TestFailure("redis-server did not start:\n\(log)")
    }

    /// Freezes the server (SIGSTOP): its connections stay open and every call waits until ``resume()``.
    public func pause() {
        if let pid = process?.pid { kill(pid, SIGSTOP) }
    }

    /// Lets a paused server go on (SIGCONT).
    public func resume() {
        if let pid = process?.pid { kill(pid, SIGCONT) }
    }

    /// Stops the server by its PID and waits for it to exit.
    public func stop() {
        process?.stop()
        process = nil
    }

    public var log: String { (try? String(contentsOfFile: directory.path + "/redis-\(port).log", encoding: .utf8)) ?? "" }

    deinit { stop() }
}
