import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// Why the multi-host farm cannot run here, or nil.
let multiHostPrerequisiteMissing: String? =
    Binaries.missingPrerequisite ?? NetworkHosts.missingPrerequisite ?? RedisServerProcess.missingReason

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

        /// `started`: how many of the builders start now (the others with ``startBuilder(_:)``).
        init(builders count: Int, clients: Int, started: Int? = nil) throws {
            hosts = try NetworkHosts()
            let names = ["redis", "scheduler"] + (1...count).map { "b\($0)" } + (1...clients).map { "c\($0)" }
            for name in names { try hosts.add(name) }
            let redisHost = hosts["redis"]
            redis = try RedisServerProcess(
                password: "farm-secret", address: redisHost.address, launcher: redisHost.launcher)
            farm = try Farm()
            farm.schedulerHost = hosts["scheduler"]
            farm.probeHost = hosts["c1"]
            try farm.startKilnScheduler()
            let started = started ?? count
            for index in 1...started { try startBuilder("b\(index)") }
            try farm.waitForServers(started)
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

        /// Waits until the latest process of each builder in `names` is registered and the scheduler counts one
        /// free slot per builder. `num_servers` alone is not enough after a restart: a stopped builder's old
        /// registration stays counted until its successor's first heartbeat replaces it.
        func waitUntilRegistered(_ names: [String]) throws {
            for name in names {
                try farm.waitFor("\(name) to register", seconds: 60) {
                    builders[name]?.processes.last?.registeredWithScheduler == true
                }
            }
            try farm.waitFor("\(names.count) free job slots") { try farm.status()?.cpus == names.count }
        }

        /// The builder's id at the scheduler (its public address).
        func serverID(_ name: String) -> String { "\(hosts[name].address):\(builders[name]?.port ?? 0)" }

        /// `redis-cli COMMAND…` against the farm's Redis, from its host.
        func redis(_ command: [String]) throws -> String {
            let (executable, arguments) = hosts["redis"].command(
                "/usr/bin/redis-cli",
                ["-h", redis.address, "-p", "\(redis.port)", "-a", redis.password ?? "", "--no-auth-warning"] + command)
            return try runToCompletion(executable, arguments, timeoutSeconds: 30).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Started sccache 0.16 clients on hosts `c1`…`cN`, each with empty caches.
        func startClients(_ count: Int) throws -> [SccacheClient] {
            try (1...count).map { index in
                let client = try SccacheClient(farm: farm, version: "0.16.0", name: "c\(index)", host: hosts["c\(index)"])
                try client.start()
                return client
            }
        }

        /// A folder with the heavy source `name`.c, the same for every runner: the working directory and the
        /// arguments are part of a job's key.
        func sharedSource(_ name: String, salt: Int, functions: Int = 400) throws -> String {
            let folder = farm.root + "/shared"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            _ = try Sources.writeHeavy(name, in: folder, salt: salt, functions: functions)
            return folder
        }

        /// Every line each builder logged, over its restarts.
        var builderLogs: [String: String] { builders.mapValues { $0.processes.map(\.log).joined(separator: "\n") } }

        /// Every `job result` the builders logged: (builder, key, source).
        var jobResults: [(builder: String, key: String, source: String)] {
            builderLogs.flatMap { name, log in
                log.split(separator: "\n").filter { $0.contains("job result") }.compactMap { line in
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
        for index in 0..<count { inBackground(done) { body(index) } }
        done.wait()
    }

    /// Runs `body` on a thread of its own, inside `group`.
    static func inBackground(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        Thread {
            body()
            group.leave()
        }.start()
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

    /// Each client compiled `count` units, all on the farm.
    static func expectDistributed(_ clients: ArraySlice<SccacheClient>, count: Int = 1) throws {
        for client in clients {
            let stats = try client.stats()
            #expect(stats.total == count && stats.distErrors == 0, "every compile went to the farm: \(stats)\n\(client.log.suffix(2000))")
        }
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
        let clients = try spread.startClients(6)
        let shared = try spread.sharedSource("heavy", salt: 21)
        #expect(Self.compileAtOnce(Array(clients[0..<4]), "heavy", in: shared) == [0, 0, 0, 0], "\(farm.logs)")
        try Self.expectDistributed(clients[0..<4])
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
        try spread.waitUntilRegistered(["b1", "b2", "b3"])
        #expect(Self.compileAtOnce(Array(clients[4..<6]), "heavy", in: shared) == [0, 0], "\(farm.logs)")
        let all = try Self.results(ofTheKeyWith: 6, in: spread)
        #expect(all.filter { $0.source == "built" }.count == 1, "still once: \(all)")
        #expect(all.filter { $0.source == "shared" }.count >= 1, "the second wave came from Redis: \(all)")
        try Self.expectDistributed(clients[4..<6])
    }

    @Test func aBuilderKilledMidBuildHandsOverToAWaitingOneWhenItsLeaseLapses() throws {
        let spread = try Spread(builders: 2, clients: 3, started: 1)
        let farm = spread.farm
        let clients = try spread.startClients(3)
        // About 9 s of gcc each: the leader is killed well inside its compile.
        let folder = try spread.sharedSource("slow", salt: 8, functions: 2000)
        _ = try Sources.writeHeavy("filler", in: folder, salt: 9, functions: 2000)
        let statuses = Mutex<[String: Int32]>([:])
        let compiles = DispatchGroup()
        func compile(_ client: Int, _ file: String) {
            Self.inBackground(compiles) {
                let status = (try? clients[client].gcc(["-c", "-O2", file + ".c", "-o", file + ".o"], in: folder))?.status ?? -1
                statuses.withLock { $0["c\(client + 1) \(file)"] = status }
            }
        }
        // A runner packages its toolchain before its first job (seconds on a loaded machine): c2 and c3 do it now,
        // so that in the race below only b1's compile is slow.
        _ = try Sources.writeHeavy("warm", in: folder, salt: 10, functions: 1)
        for client in [1, 2] {
            let warm = try clients[client].gcc(["-c", "warm.c", "-o", "warm\(client).o"], in: folder)
            try #require(warm.status == 0, "c\(client + 1)'s warm-up compile failed: \(warm.output)")
        }
        // c1's job leads on b1 (its lease in Redis names b1); c3's unrelated job fills b1's second place at the
        // scheduler, so that c2's identical job goes to b2, started only now.
        compile(0, "slow")
        let leaseOwner = {
            (try? spread.redis(["EVAL", "local k = redis.call('KEYS', 'kiln:lease:*')[1] if k then return redis.call('GET', k) end", "0"])) ?? ""
        }
        try farm.waitFor("b1 to take the lease", seconds: 120) { leaseOwner().hasPrefix(spread.serverID("b1") + "/") }
        compile(2, "filler")
        try farm.waitFor("b1 to hold two jobs", seconds: 60) { FaultsEndToEndTests.servers(farm)[spread.serverID("b1")]?.jobs == 2 }
        try spread.startBuilder("b2")
        try farm.waitForServers(2)
        compile(1, "slow")
        try farm.waitFor("b2 to wait for b1's build", seconds: 120) {
            spread.builderLogs["b2", default: ""].contains("another builder is building the same job")
        }
        let b1 = try #require(spread.builders["b1"]?.processes.last)
        kill(b1.pid, SIGKILL)
        #expect(b1.exitStatus(waitingSeconds: 10) != nil)
        compiles.wait()
        #expect(statuses.withLock { $0 } == ["c1 slow": 0, "c2 slow": 0, "c3 filler": 0], "every compile succeeded (c1 and c3 locally)")
        let b2Results = spread.jobResults.filter { $0.builder == "b2" }
        #expect(b2Results.map(\.source) == ["built"], "b2 took over the lapsed lease and built the job: \(b2Results)\n\(farm.logs)")
        try Self.expectDistributed(clients[1...1], count: 2)  // the warm-up and the slow job
        let local = try runToCompletion("/usr/bin/gcc", ["-c", "-O2", "slow.c", "-o", "local.o"], directory: folder)
        #expect(
            local.status == 0 && FileManager.default.contents(atPath: folder + "/slow.o") == FileManager.default.contents(atPath: folder + "/local.o")
        )
        // b1 back on its build folder clears what its killed jobs left (mounts, sandboxes).
        try spread.startBuilder("b1")
        try farm.waitFor("b1 to register again", seconds: 60) {
            guard let server = FaultsEndToEndTests.servers(farm)[spread.serverID("b1")] else { return false }
            return !server.quarantined && server.jobs == 0
        }
    }

    @Test func redisStoppedMidBuildChangesNothingButTheSharing() throws {
        let spread = try Spread(builders: 2, clients: 2)
        let farm = spread.farm
        let clients = try spread.startClients(2)
        let folder = try spread.sharedSource("mid", salt: 5, functions: 2000)
        _ = try Sources.writeHeavy("after", in: folder, salt: 6)
        let first = Mutex<Int32>(-1)
        let running = DispatchGroup()
        Self.inBackground(running) {
            let status = (try? clients[0].gcc(["-c", "-O2", "mid.c", "-o", "mid.o"], in: folder))?.status ?? -1
            first.withLock { $0 = status }
        }
        try farm.waitFor("a builder to take the lease", seconds: 120) { !((try? spread.redis(["KEYS", "kiln:lease:*"])) ?? "").isEmpty }
        spread.redis.stop()
        let second = try clients[1].gcc(["-c", "-O2", "after.c", "-o", "after.o"], in: folder)
        running.wait()
        #expect(first.withLock { $0 } == 0 && second.status == 0, "\(farm.logs)")
        for client in clients { try Self.expectDistributed([client][...]) }
        #expect(spread.jobResults.map(\.source).sorted() == ["built", "built"], "\(spread.jobResults)")
        let served = Set(spread.jobResults.map(\.builder))
        let logged = Set(spread.builderLogs.filter { $0.value.contains("shared result cache unavailable") }.keys)
        #expect(!served.isEmpty && served.isSubset(of: logged), "each builder that ran a job logged the outage: \(farm.logs)")
    }

    @Test(.requires(DebianProjectTests.missing(.overlay))) func aDebianPackageBuildsAcrossThreeBuilderHostsWithIdenticalObjects() throws {
        let spread = try Spread(builders: 3, clients: 1)
        let (farm, host) = (spread.farm, spread.hosts["c1"])
        let client = try SccacheClient(farm: farm, version: "0.16.0", name: "lua", host: host)
        try client.start()
        try DebianProjectTests.buildThroughTheFarmAndCompare(farm: farm, client: client, host: host)
        let builders = Set(spread.jobResults.map(\.builder))
        #expect(builders.count >= 2, "the build spread over the builder hosts: \(builders)")
    }
}
