import Foundation
import KilnTestSupport

/// One real sccache client (its own local server, port, caches and config), pointed at a farm's scheduler.
/// The 0.16 binary decides what it is from argv[0], so it runs from a folder where it is named `sccache`.
final class SccacheClient: @unchecked Sendable {
    let directory: String
    let binary: String
    let port = freePort()
    let version: String
    /// The client's own host when the farm spans ``NetworkHosts`` (its local server listens on that host's loopback).
    let host: NetworkHosts.Host?
    /// Whether the client packages its compilers itself rather than starting with ``PackagedToolchains``' copy.
    let packagesItsOwnToolchain: Bool

    init(farm: Farm, version: String, name: String, host: NetworkHosts.Host? = nil, packagesItsOwnToolchain: Bool = false) throws {
        self.version = version
        self.host = host
        self.packagesItsOwnToolchain = packagesItsOwnToolchain
        directory = "\(farm.root)/client-\(name)"
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        let source = (version == "0.16.0" ? Binaries.sccache016 : Binaries.sccache040) + "/sccache"
        binary = directory + "/bin/sccache"
        // Copied by `cp`: a write descriptor held in this process could leak into a child spawned by a parallel
        // test and make exec fail with ETXTBSY.
        let copy = try runToCompletion("/bin/cp", [source, binary])
        guard copy.status == 0 else { throw TestFailure("cannot copy \(source): \(copy.output)") }
        if !packagesItsOwnToolchain { try PackagedToolchains.seed(directory + "/dist-cache", version: version) }
        try """
        [dist]
        scheduler_url = "\(farm.schedulerURL)"
        toolchains = []
        toolchain_cache_size = 5368709120
        cache_dir = "\(directory)/dist-cache"
        [dist.auth]
        type = "token"
        token = "\(farm.clientToken)"
        """.write(toFile: directory + "/client.conf", atomically: true, encoding: .utf8)
    }

    var environment: [String: String] {
        [
            "SCCACHE_CONF": directory + "/client.conf", "SCCACHE_DIR": directory + "/local-cache",
            "SCCACHE_SERVER_PORT": String(port), "SCCACHE_CACHED_CONF": directory + "/cached-config",
            "SCCACHE_ERROR_LOG": directory + "/client.log", "SCCACHE_LOG": "debug", "SCCACHE_IDLE_TIMEOUT": "0",
        ]
    }

    func start() throws {
        let result = try run(["--start-server"], timeoutSeconds: 30)
        guard result.status == 0 else { throw TestFailure("sccache \(version) did not start: \(result.output)") }
    }

    func stop() {
        _ = try? run(["--stop-server"], timeoutSeconds: 30)
    }

    deinit { stop() }

    /// `sccache gcc <arguments>` in `directory`.
    @discardableResult
    func gcc(_ arguments: [String], in workingDirectory: String) throws -> (status: Int32, output: String) {
        try run(["/usr/bin/gcc"] + arguments, directory: workingDirectory, timeoutSeconds: 300)
    }

    /// `sccache <arguments>` on the client's host, with its environment.
    func run(_ arguments: [String], directory: String? = nil, timeoutSeconds: Double) throws -> (status: Int32, output: String) {
        let (executable, allArguments) = host.map { $0.command(binary, arguments) } ?? (binary, arguments)
        return try runToCompletion(executable, allArguments, environment: environment, directory: directory, timeoutSeconds: timeoutSeconds)
    }

    struct Stats {
        var distCompiles: [String: Int]
        var distErrors: Int
        var total: Int { distCompiles.values.reduce(0, +) }
    }

    func stats() throws -> Stats {
        let result = try run(["--show-stats", "--stats-format", "json"], timeoutSeconds: 30)
        guard let data = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map({ Data($0.utf8) }),
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let stats = json["stats"] as? [String: Any]
        else { throw TestFailure("cannot read sccache stats: \(result.output)") }
        let read = Stats(distCompiles: stats["dist_compiles"] as? [String: Int] ?? [:], distErrors: stats["dist_errors"] as? Int ?? -1)
        // The caller reads the stats once its compiles have returned: the client is idle, its packages whole.
        if read.total > 0 && !packagesItsOwnToolchain { try PackagedToolchains.keep(directory + "/dist-cache", version: version) }
        return read
    }

    var log: String { (try? String(contentsOfFile: directory + "/client.log", encoding: .utf8)) ?? "" }
}

/// Small C sources whose objects can be compared with a local build.
enum Sources {
    static func write(_ name: String, in directory: String, salt: Int) throws -> String {
        let path = "\(directory)/\(name).c"
        try """
        #include <stdio.h>
        static const char *message = "kiln \(name) \(salt)";
        int \(name)_value(int x) { return x * \(salt + 3) + (int)sizeof(message); }
        int \(name)_print(void) { return printf("%s\\n", message); }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A source that takes gcc -O2 a noticeable moment (about 2 s here with 400 functions), so concurrent jobs
    /// overlap on the farm.
    static func writeHeavy(_ name: String, in directory: String, salt: Int, functions: Int = 400) throws -> String {
        let path = "\(directory)/\(name).c"
        var text = "#include <string.h>\n"
        for index in 0..<functions {
            text += "int \(name)_f\(index)(const char *s, int n) { int h = \(salt + index); "
            text += "for (int i = 0; i < n; i++) h = h * 31 + s[i] + (int)strlen(s + i); return h ^ \(index); }\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
