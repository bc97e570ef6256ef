import Foundation
import KilnProtocol
import KilnTestSupport
import Synchronization
import Testing

/// The builder's result cache through the real endpoints: a compiler wrapper in the toolchain writes a fresh id
/// (from the kernel) into every output it makes, so an answer with an earlier id was served without running it.
@Suite(.serialized, .requires(SecurityTests.skipReason(.overlay))) struct ResultCacheEndToEndTests {
    /// `kiln-cc MARKER SECONDS INPUT OUTPUT [EXIT]`: sleeps, then writes its run id, the input and LANG.
    static let wrapper = """
        #!/bin/sh
        busybox sleep "$2"
        id=$(cat /proc/sys/kernel/random/uuid)
        { echo "run $id"; cat "$3"; echo "LANG=$LANG"; } > "$4"
        echo "kiln-cc run $id" >&2
        exit "${5:-0}"
        """

    static func bench(tables: String = "", maxJobs: Int? = nil, marker: String = "") throws -> HostileBench {
        try HostileBench(
            try BuilderEndpointTests.Probe(tables: tables, maxJobs: maxJobs), scripts: ["usr/bin/kiln-cc": wrapper], marker: marker)
    }

    /// One compile as a client sends it: cwd /work/src, input main.c, output main.o.
    struct Compile {
        var marker = "m"
        var seconds = "0"
        var exit = "0"
        var environment = [EnvironmentVariable("LANG", "C.UTF-8"), EnvironmentVariable("SHLVL", "1"), EnvironmentVariable("PATH", "/bin")]
        var cwd = "/work/src"
        var outputs = ["/work/src/main.o"]
        var source = "int main(void) { return 0; }\n"

        var command: CompileCommand {
            CompileCommand(
                executable: "/usr/bin/kiln-cc", arguments: [marker, seconds, "main.c", "main.o", exit], environment: environment, cwd: cwd)
        }
    }

    /// Runs `compile` with its source in a tar that GNU tar made with the given mtime and owner; returns the run
    /// id in its output (or stderr for a failed compile) and the answer.
    static func run(
        _ compile: Compile, on bench: HostileBench, job: JobAlloc? = nil, mtime: Int = 1_700_000_000, owner: Int = 1000
    ) throws -> String? {
        let directory = bench.probe.farm.root + "/inputs-\(UUID().uuidString)"
        let source = directory + compile.cwd + "/main.c"
        try FileManager.default.createDirectory(atPath: (source as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try compile.source.write(toFile: source, atomically: true, encoding: .utf8)
        let tar = directory + ".tar"
        let made = try runCommand(
            "/bin/tar",
            [
                "--format=ustar", "--mtime=@\(mtime)", "--owner=\(owner)", "--group=\(owner)", "-C", directory, "-cf", tar,
                String(compile.cwd.dropFirst()) + "/main.c",
            ])
        guard made.status == 0 else { throw TestFailure("tar failed (\(made.status)): \(made.output)") }
        let answer = try bench.run(compile.command, outputs: compile.outputs, inputsTar: tar, job: job)
        return answer.text.split(separator: "\n").first { $0.contains("run ") }.map { String($0.split(separator: " ").last ?? "") }
    }

    @Test func identicalJobsHitAndEveryKeyedChangeMisses() throws {
        let bench = try Self.bench()
        let base = try #require(try Self.run(Compile(), on: bench), "the wrapper ran\n\(bench.probe.farm.logs)")
        #expect(try Self.run(Compile(), on: bench) == base, "the same job again is served from the cache")
        var otherShell = Compile()
        otherShell.environment = [EnvironmentVariable("SHLVL", "4"), EnvironmentVariable("OLDPWD", "/x"), EnvironmentVariable("LANG", "C.UTF-8")]
        #expect(try Self.run(otherShell, on: bench) == base, "variables that never reach the compiler do not count")
        #expect(try Self.run(Compile(), on: bench, mtime: 1_800_000_000, owner: 4242) == base, "nor do the inputs' mtimes and owners")

        let changes: [(String, (inout Compile) -> Void)] = [
            ("an allowed variable", { $0.environment[0].value = "de_DE.UTF-8" }),
            ("an argument", { $0.marker = "other" }),
            (
                "the working directory",
                {
                    $0.cwd = "/work/other"; $0.outputs = ["/work/other/main.o"]
                }
            ),
            ("the declared outputs", { $0.outputs.append("/work/src/main.d") }),
            ("the source", { $0.source += "// changed\n" }),
        ]
        var seen: Set<String> = [base]
        for (name, change) in changes {
            var compile = Compile()
            change(&compile)
            let id = try Self.run(compile, on: bench)
            #expect(id != nil && seen.insert(id ?? "").inserted, "changing \(name) must run the compiler again")
        }
        let otherToolchain = try Self.bench(marker: "2")
        #expect(try Self.run(Compile(), on: otherToolchain) != base, "another toolchain is another key")

        var failing = Compile()
        failing.exit = "3"
        let failed = try Self.run(failing, on: bench)
        #expect(failed != nil && !seen.contains(failed ?? ""))
        #expect(try Self.run(failing, on: bench) == failed, "a failed compile is cached too (failure_ttl)")
    }

    @Test func sixteenConcurrentIdenticalJobsRunTheCompilerOnce() throws {
        let bench = try Self.bench(maxJobs: 16)
        let marker = "kiln-coalesce-\(UUID().uuidString.prefix(8))"
        var slow = Compile()
        (slow.marker, slow.seconds) = (marker, "3")
        let compile = slow
        let jobs = try (0..<16).map { _ in try bench.allocate() }
        let watcher = CompilerRunWatcher(marker: marker)
        let ids = Mutex<[String?]>([])
        let group = DispatchGroup()
        for job in jobs {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let id = try? Self.run(compile, on: bench, job: job)
                ids.withLock { $0.append(id ?? nil) }
            }
        }
        group.wait()
        let runs = watcher.stop()
        let answers = ids.withLock { $0 }
        #expect(answers.count == 16 && answers.allSatisfy { $0 != nil }, "every job got a result\n\(bench.probe.farm.logs)")
        #expect(Set(answers.compactMap { $0 }).count == 1, "all sixteen results come from one run: \(answers)")
        #expect(runs == 1, "the compiler wrapper ran \(runs) times")
        let next = try bench.allocate()
        #expect(try Self.run(compile, on: bench, job: next) == answers.first ?? nil, "and the seventeenth is a hit")
    }

    @Test func aTruncatedEntryIsAMissAndIsReplaced() throws {
        let bench = try Self.bench()
        let first = try #require(try Self.run(Compile(), on: bench))
        let entry = try #require(bench.newResultCacheEntry(besides: []), "an entry in \(bench.resultCacheDirectory)")
        try #require(bench.resultCacheEntries.count == 1, "one entry: \(bench.resultCacheEntries)")
        let path = bench.resultCacheDirectory + "/" + entry
        let bytes = try #require(FileManager.default.contents(atPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let second = try #require(try Self.run(Compile(), on: bench))
        #expect(second != first, "a truncated entry is never served; the compiler ran again")
        #expect(try Self.run(Compile(), on: bench) == second, "and its new result replaced the entry")
        #expect(bench.probe.builder.log.contains("damaged"), "the builder says it removed a damaged entry")
    }

    /// Two CI runners: separate real sccache clients with empty caches, each with its own checkout of the same
    /// file in the same directory (another mtime). The second compile is served from the builder's cache, though
    /// sccache 0.4 stamps the toolchain it packages with the time: the runners, a second apart, upload the same
    /// compiler under two archive ids.
    @Test(arguments: ["0.4.0", "0.16.0"]) func twoRealClientsWithTheirOwnCheckoutsShareACompile(version: String) throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        let builder = try farm.startKilnBuilder(port: freePort())
        try farm.waitForServers(1)
        let work = farm.root + "/checkout/src"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var objects: [Data?] = []
        for runner in ["runner-a", "runner-b"] {
            let source = try Sources.write("shared", in: work, salt: 21)
            var times = [timeval(tv_sec: runner == "runner-a" ? 1_600_000_000 : 1_700_000_000, tv_usec: 0)]
            times.append(times[0])
            utimes(source, times)
            unlink(work + "/shared.o")
            Thread.sleep(forTimeInterval: 1.1)  // the runners package the toolchain in different seconds
            let client = try SccacheClient(farm: farm, version: version, name: runner, packagesItsOwnToolchain: true)
            try client.start()
            let compiled = try client.gcc(["-O1", "-c", "shared.c", "-o", "shared.o"], in: work)
            #expect(compiled.status == 0, "\(compiled.output)")
            #expect(try client.stats().total == 1, "\(runner) distributed its compile\n\(client.log.suffix(2000))")
            objects.append(FileManager.default.contents(atPath: work + "/shared.o"))
            client.stop()
        }
        let local = try runToCompletion("/usr/bin/gcc", ["-O1", "-c", "shared.c", "-o", "shared.local.o"], directory: work)
        #expect(local.status == 0)
        #expect(objects[0] != nil && objects[0] == objects[1] && objects[1] == FileManager.default.contents(atPath: work + "/shared.local.o"))
        let sources = builder.log.split(separator: "\n").filter { $0.contains("job result") }.map { $0.contains("source=hit") ? "hit" : "other" }
        #expect(sources == ["other", "hit"], "the second runner's compile was a hit\n\(builder.log.suffix(4000))")
        let uploads = Set(
            builder.log.split(separator: "\n").filter { $0.contains("toolchain stored") }.compactMap { $0.split(separator: "toolchain=").last })
        if version == "0.4.0" { #expect(uploads.count == 2, "each runner uploaded its own archive id: \(uploads)") }
    }

    @Test func turnedOffEveryJobRuns() throws {
        let bench = try Self.bench(tables: "[result_cache]\nenabled = false\n")
        let first = try Self.run(Compile(), on: bench)
        #expect(first != nil)
        #expect(try Self.run(Compile(), on: bench) != first)
    }
}

/// Counts distinct runs of the compiler wrapper from the host: processes whose argv is `/bin/sh
/// /usr/bin/kiln-cc MARKER …`, polled from /proc until ``stop()`` (each run sleeps long enough to be seen).
final class CompilerRunWatcher: @unchecked Sendable {
    private let seen = Mutex<Set<String>>([])
    private let running = Mutex(true)
    private let finished = DispatchSemaphore(value: 0)

    init(marker: String) {
        Thread.detachNewThread { [self] in
            while running.withLock({ $0 }) {
                var matches: [(pid: String, parent: String, start: String)] = []
                for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
                    guard let argv = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                    let parts = argv.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                    guard parts.count > 2, parts[1] == "/usr/bin/kiln-cc", parts[2] == marker else { continue }
                    let fields =
                        (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: ")").last?
                        .split(separator: " ").map(String.init) ?? []
                    matches.append((pid, fields.dropFirst(1).first ?? "?", fields.dropFirst(19).first ?? "?"))
                }
                // The wrapper's shell forks before each command it runs (`busybox sleep`, `$(cat …)`): until the
                // child execs, it has the wrapper's argv. A match whose parent matches too is such a child.
                let pids = Set(matches.map(\.pid))
                for match in matches where !pids.contains(match.parent) {
                    seen.withLock { _ = $0.insert("\(match.pid)@\(match.start)") }
                }
                usleep(20_000)
            }
            finished.signal()
        }
    }

    /// Stops watching; the number of distinct runs seen.
    func stop() -> Int {
        running.withLock { $0 = false }
        finished.wait()
        return seen.withLock { $0.count }
    }
}
