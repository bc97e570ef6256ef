import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// Why the multi-host farm cannot run here, or nil.
let multiHostPrerequisiteMissing: String? =
    Binaries.missingPrerequisite ?? NetworkHosts.missingPrerequisite
    ?? (RedisServerProcess.executable == nil ? "needs Debian's redis-server (apt install redis-server)" : nil)

/// A farm spread over separate network hosts (``NetworkHosts``): Redis, the scheduler, three builders and the
/// clients each in a namespace of its own, every request crossing a real network stack. The builders share their
/// result cache and coalescing through Redis (`[result_cache] shared_url`, with a password).
@Suite(.serialized, .requires(multiHostPrerequisiteMissing)) struct MultiHostFarmTests {
    /// The farm on its hosts: `redis`, `scheduler`, `b1`…`bN`, and one host per client (`c1`…).
    final class Spread: @unchecked Sendable {
        let hosts: NetworkHosts
        let farm: Farm
        let redis: RedisServerProcess
        /// Each builder's port and its processes (a restart adds one; their logs are kept).
        private(set) var builders: [String: (port: UInt16, processes: [ManagedProcess])] = [:]

        init(builders count: Int, clients: Int) throws {
            hosts = try NetworkHosts()
            let names = ["redis", "scheduler"] + (1...count).map { "b\($0)" } + (1...clients).map { "c\($0)" }
            for name in names { try hosts.add(name) }
            let redisHost = hosts["redis"]
            redis = try RedisServerProcess(
                password: "farm-secret", address: redisHost.address, launcher: Array([NetworkHosts.ip, "netns", "exec", redisHost.namespace]))
            farm = try Farm()
            farm.schedulerHost = hosts["scheduler"]
            farm.probeHost = hosts["c1"]
            try farm.startKilnScheduler()
            for index in 1...count { try startBuilder("b\(index)") }
            try farm.waitForServers(count)
        }

        /// Starts (or restarts, on its port) the builder on host `name`: one job slot, so that concurrent jobs
        /// spread over the builders.
        func startBuilder(_ name: String) throws {
            let port = builders[name]?.port ?? freePort()
            let process = try farm.startKilnBuilder(
                port: port, name: name, logName: "\(name)-\(UUID().uuidString.prefix(4))", maxJobs: 1,
                tables: "[result_cache]\nshared_url = \"\(redis.url)\"\nshared_lease = 5\n", host: hosts[name])
            builders[name] = (port, (builders[name]?.processes ?? []) + [process])
        }

        func stopBuilder(_ name: String) { builders[name]?.processes.last?.stop() }

        /// Every `job result` the builders logged: (builder, key, source).
        var jobResults: [(builder: String, key: String, source: String)] {
            builders.flatMap { name, builder in
                builder.processes.map(\.log).joined(separator: "\n").split(separator: "\n").filter { $0.contains("job result") }.compactMap { line in
                    guard let key = Self.field("key", in: line), let source = Self.field("source", in: line) else { return nil }
                    return (name, key, source)
                }
            }
        }

        private static func field(_ name: String, in line: Substring) -> String? {
            guard let start = line.range(of: "\(name)=") else { return nil }
            return String(line[start.upperBound...].prefix { !$0.isWhitespace })
        }
    }

    /// Runs `body` for each index on its own thread, all at once, and waits for all.
    static func atOnce(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchGroup()
        for index in 0..<count {
            done.enter()
            Thread {
                body(index)
                done.leave()
            }.start()
        }
        done.wait()
    }

    /// `count` runners (their own hosts and empty caches) compile `file` in `folder` at once; the statuses.
    static func compileAtOnce(_ clients: [SccacheClient], _ file: String, in folder: String) -> [Int32] {
        let statuses = Mutex<[Int32]>([])
        atOnce(clients.count) { index in
            let status = (try? clients[index].gcc(["-c", "-O2", file + ".c", "-o", file + ".o"], in: folder))?.status ?? -1
            statuses.withLock { $0.append(status) }
        }
        return statuses.withLock { $0 }
    }

    /// The jobs the builders ran for the one key that `count` jobs had, with where each result came from.
    static func results(ofTheKeyWith count: Int, in spread: Spread) throws -> [(builder: String, key: String, source: String)] {
        let byKey = Dictionary(grouping: spread.jobResults, by: \.key).values.filter { $0.count == count }
        try #require(byKey.count == 1, "one key with \(count) jobs: \(spread.jobResults)\n\(spread.farm.logs)")
        return byKey[0]
    }

    @Test func identicalJobsFromFourRunnersCompileOnceFarmWideAndRedisServesTheNextWave() throws {
        let spread = try Spread(builders: 3, clients: 6)
        let farm = spread.farm
        let clients = try (1...6).map { try SccacheClient(farm: farm, version: "0.16.0", name: "c\($0)", host: spread.hosts["c\($0)"]) }
        for client in clients { try client.start() }
        // One source and one object name for all runners: the working directory and arguments are part of the key.
        let shared = farm.root + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        _ = try Sources.writeHeavy("heavy", in: shared, salt: 21)
        #expect(Self.compileAtOnce(Array(clients[0..<4]), "heavy", in: shared) == [0, 0, 0, 0], "\(farm.logs)")
        for client in clients[0..<4] {
            let stats = try client.stats()
            #expect(stats.total == 1 && stats.distErrors == 0, "every runner's compile went to the farm: \(stats)\n\(client.log.suffix(2000))")
        }
        let local = try runToCompletion("/usr/bin/gcc", ["-c", "-O2", "heavy.c", "-o", "local.o"], directory: shared)
        #expect(local.status == 0)
        let remote = FileManager.default.contents(atPath: "\(shared)/heavy.o")
        #expect(remote != nil && remote == FileManager.default.contents(atPath: "\(shared)/local.o"), "heavy.o differs from a local compile")
        let wave = try Self.results(ofTheKeyWith: 4, in: spread)
        #expect(wave.filter { $0.source == "built" }.count == 1, "the compiler ran once farm-wide: \(wave)")
        #expect(Set(wave.map(\.builder)).count >= 2, "the jobs reached more than one builder: \(wave)")

        // Builders whose own disks are empty (restarted without their results) serve the next wave from Redis.
        for name in ["b1", "b2", "b3"] {
            spread.stopBuilder(name)
            try? FileManager.default.removeItem(atPath: "\(farm.root)/\(name)/cache/results")
            try spread.startBuilder(name)
        }
        try farm.waitForServers(3)
        #expect(Self.compileAtOnce(Array(clients[4..<6]), "heavy", in: shared) == [0, 0], "\(farm.logs)")
        let all = try Self.results(ofTheKeyWith: 6, in: spread)
        #expect(all.filter { $0.source == "built" }.count == 1, "still once: \(all)")
        #expect(all.filter { $0.source == "shared" }.count >= 1, "the second wave came from Redis: \(all)")
        for client in clients[4..<6] { #expect(try client.stats().distErrors == 0) }
    }

    @Test func redisStoppedChangesNothingButTheSharing() throws {
        let spread = try Spread(builders: 2, clients: 2)
        let farm = spread.farm
        let clients = try (1...2).map { try SccacheClient(farm: farm, version: "0.16.0", name: "c\($0)", host: spread.hosts["c\($0)"]) }
        for client in clients { try client.start() }
        let shared = farm.root + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        _ = try Sources.writeHeavy("alone", in: shared, salt: 5)
        spread.redis.stop()
        #expect(Self.compileAtOnce(clients, "alone", in: shared) == [0, 0], "\(farm.logs)")
        for client in clients {
            let stats = try client.stats()
            #expect(stats.total == 1 && stats.distErrors == 0, "\(stats)")
        }
        let logs = farm.logs
        #expect(logs.contains("shared result cache unavailable"), "the outage is logged: \(logs)")
    }

    @Test(.requires(DebianProjectTests.missing(.overlay))) func aDebianPackageBuildsAcrossThreeBuilderHostsWithIdenticalObjects() throws {
        let spread = try Spread(builders: 3, clients: 1)
        let farm = spread.farm
        let host = spread.hosts["c1"]
        let client = try SccacheClient(farm: farm, version: "0.16.0", name: "lua", host: host)
        try client.start()
        let remote = farm.root + "/lua-remote"
        let local = farm.root + "/lua-local"
        for copy in [remote, local] { try runToCompletion("/bin/cp", ["-a", DebianProjectTests.sourceDirectory, copy]) }
        let make = ["-C", "src", "-j3", "linux-noreadline"]
        let (executable, arguments) = host.command("/usr/bin/make", make + ["CC=\(client.binary) gcc"])
        let remoteBuild = try runToCompletion(executable, arguments, environment: client.environment, directory: remote, timeoutSeconds: 900)
        #expect(remoteBuild.status == 0, "make through the farm failed:\n\(remoteBuild.output.suffix(3000))")
        let localBuild = try runToCompletion("/usr/bin/make", make + ["CC=gcc"], directory: local, timeoutSeconds: 900)
        #expect(localBuild.status == 0, "local make failed:\n\(localBuild.output.suffix(3000))")
        let objects = try FileManager.default.contentsOfDirectory(atPath: local + "/src").filter { $0.hasSuffix(".o") }.sorted()
        #expect(objects.count >= 30, "expected at least 30 translation units, got \(objects)")
        for object in objects {
            let remoteBytes = FileManager.default.contents(atPath: "\(remote)/src/\(object)")
            #expect(remoteBytes != nil && remoteBytes == FileManager.default.contents(atPath: "\(local)/src/\(object)"), "\(object) differs")
        }
        let stats = try client.stats()
        #expect(stats.total == objects.count && stats.distErrors == 0, "every compile was distributed: \(stats)\n\(farm.logs)")
        let builders = Set(spread.jobResults.map(\.builder))
        #expect(builders.count >= 2, "the build spread over the builder hosts: \(builders)")
    }
}
