import Foundation
import KilnTestSupport
import Testing

/// Kiln's build server with the real clients (0.4.0, 0.16.0), behind Kiln's scheduler and behind the real
/// sccache-dist 0.4.0 scheduler.
@Suite(.serialized, .requires(Binaries.missingPrerequisite)) struct BuilderConformanceTests {
    enum SchedulerKind: String, CaseIterable, Sendable { case kiln, sccacheDist }

    static func farm(with scheduler: SchedulerKind) throws -> Farm {
        let farm = try Farm()
        switch scheduler {
        case .kiln: try farm.startKilnScheduler()
        case .sccacheDist: try farm.startSccacheDistScheduler()
        }
        return farm
    }

    /// Why `sandbox` cannot run here, or nil.
    static func missing(_ sandbox: BuilderSandboxKind) -> String? { Binaries.missingPrerequisite ?? sandbox.missingPrerequisite }

    static let cases = SchedulerKind.allCases.flatMap { scheduler in ["0.4.0", "0.16.0"].map { (scheduler, $0) } }

    @Test(.requires(missing(.overlay)), arguments: cases)
    func compilesThroughKilnBuilderWithOverlay(scheduler: SchedulerKind, version: String) throws {
        try compilesThroughKilnBuilder(sandbox: .overlay, scheduler: scheduler, version: version)
    }

    @Test(.requires(missing(.rootless)), arguments: cases)
    func compilesThroughKilnBuilderWithRootless(scheduler: SchedulerKind, version: String) throws {
        try compilesThroughKilnBuilder(sandbox: .rootless, scheduler: scheduler, version: version)
    }

    @Test(.requires(missing(.docker)), arguments: cases)
    func compilesThroughKilnBuilderWithDocker(scheduler: SchedulerKind, version: String) throws {
        try compilesThroughKilnBuilder(sandbox: .docker, scheduler: scheduler, version: version)
    }

    @Test(.requires(missing(.pot)), arguments: cases)
    func compilesThroughKilnBuilderWithPot(scheduler: SchedulerKind, version: String) throws {
        try compilesThroughKilnBuilder(sandbox: .pot, scheduler: scheduler, version: version)
    }

    func compilesThroughKilnBuilder(sandbox: BuilderSandboxKind, scheduler: SchedulerKind, version: String) throws {
        let farm = try Self.farm(with: scheduler)
        try farm.startKilnBuilder(port: freePort(), sandbox: sandbox)
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: version, name: "kiln-\(sandbox)-\(scheduler)")
        try client.start()
        // The first compile uploads the toolchain, the second finds it cached.
        try SchedulerConformanceTests.compileAndCompare(client, "first", farm: farm, salt: 11)
        try SchedulerConformanceTests.compileAndCompare(client, "second", farm: farm, salt: 12)
        let stats = try client.stats()
        #expect(stats.total == 2, "expected two distributed compiles: \(stats)\n\(client.log.suffix(3000))\n\(farm.logs)")
        #expect(stats.distErrors == 0)
    }

    @Test(.requires(missing(.overlay))) func failingCompileIsAResultWithTheCompilersMessageWithOverlay() throws {
        try failingCompileIsAResultWithTheCompilersMessage(sandbox: .overlay)
    }

    @Test(.requires(missing(.rootless))) func failingCompileIsAResultWithTheCompilersMessageWithRootless() throws {
        try failingCompileIsAResultWithTheCompilersMessage(sandbox: .rootless)
    }

    @Test(.requires(missing(.docker))) func failingCompileIsAResultWithTheCompilersMessageWithDocker() throws {
        try failingCompileIsAResultWithTheCompilersMessage(sandbox: .docker)
    }

    @Test(.requires(missing(.pot))) func failingCompileIsAResultWithTheCompilersMessageWithPot() throws {
        try failingCompileIsAResultWithTheCompilersMessage(sandbox: .pot)
    }

    func failingCompileIsAResultWithTheCompilersMessage(sandbox: BuilderSandboxKind) throws {
        let farm = try Self.farm(with: .kiln)
        let builder = try farm.startKilnBuilder(port: freePort(), sandbox: sandbox)
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "failing-\(sandbox)")
        try client.start()
        let work = "\(farm.root)/src-failing-\(sandbox)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try "int broken(void) { return kiln_undeclared_identifier; }\n".write(toFile: work + "/broken.c", atomically: true, encoding: .utf8)
        let result = try client.gcc(["-c", "broken.c", "-o", "broken.o"], in: work)
        #expect(result.status != 0)
        #expect(result.output.contains("kiln_undeclared_identifier"), "the compiler's own message must come back: \(result.output)")
        // sccache counts only successful compiles as distributed; the builder's log shows where this one ran.
        #expect(builder.log.contains("code=1"), "the failing compile must run on the farm: \(builder.log.suffix(2000))")
        #expect(try client.stats().distErrors == 0)
        #expect(!FileManager.default.fileExists(atPath: work + "/broken.o"))
    }

    @Test func restartedBuilderKeepsItsToolchainCache() throws {
        let farm = try Self.farm(with: .kiln)
        let port = freePort()
        let first = try farm.startKilnBuilder(port: port, name: "persistent")
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "persistent")
        try client.start()
        try SchedulerConformanceTests.compileAndCompare(client, "before", farm: farm, salt: 21)
        #expect(first.log.contains("toolchain stored"), "the first run must receive the toolchain: \(first.log.suffix(2000))")
        first.stop()
        let second = try farm.startKilnBuilder(port: port, name: "persistent", logName: "persistent-restarted")
        try farm.waitFor("the restarted builder to register") { second.registeredWithScheduler }
        try SchedulerConformanceTests.compileAndCompare(client, "after", farm: farm, salt: 22)
        #expect(!second.log.contains("toolchain stored"), "the restarted builder must reuse its cache: \(second.log.suffix(2000))")
        let stats = try client.stats()
        #expect(stats.total == 2, "\(stats)\n\(client.log.suffix(2000))")
    }

    /// Issue 19, hole 7: a cached toolchain archive torn while the builder was down (a power cut) is hashed again
    /// at its first use, evicted, and the client compiles that file locally; the next compile uploads it again and
    /// is distributed. Nothing fails and no torn toolchain is unpacked.
    @Test(.requires(missing(.overlay))) func aToolchainTornWhileTheBuilderWasDownIsUploadedAgainWithOverlay() throws {
        try aToolchainTornWhileTheBuilderWasDownIsUploadedAgain(sandbox: .overlay)
    }

    @Test(.requires(missing(.rootless))) func aToolchainTornWhileTheBuilderWasDownIsUploadedAgainWithRootless() throws {
        try aToolchainTornWhileTheBuilderWasDownIsUploadedAgain(sandbox: .rootless)
    }

    @Test(.requires(missing(.docker))) func aToolchainTornWhileTheBuilderWasDownIsUploadedAgainWithDocker() throws {
        try aToolchainTornWhileTheBuilderWasDownIsUploadedAgain(sandbox: .docker)
    }

    func aToolchainTornWhileTheBuilderWasDownIsUploadedAgain(sandbox: BuilderSandboxKind) throws {
        let farm = try Self.farm(with: .kiln)
        let port = freePort()
        let first = try farm.startKilnBuilder(port: port, name: "torn", sandbox: sandbox)
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "torn")
        try client.start()
        try SchedulerConformanceTests.compileAndCompare(client, "before", farm: farm, salt: 31)
        first.stop()
        let cache = "\(farm.root)/torn/cache/tc"
        let archives = (FileManager.default.subpaths(atPath: cache) ?? []).filter { $0.split(separator: "/").count == 3 && !$0.hasPrefix(".") }
        try #require(archives.count == 1, "one cached toolchain: \(archives)")
        let archive = cache + "/" + archives[0]
        let bytes = try #require(FileManager.default.contents(atPath: archive))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: archive))
        let second = try farm.startKilnBuilder(port: port, name: "torn", logName: "torn-restarted", sandbox: sandbox)
        try farm.waitFor("the restarted builder to register") { second.registeredWithScheduler }
        try SchedulerConformanceTests.compileAndCompare(client, "torn", farm: farm, salt: 32)
        try SchedulerConformanceTests.compileAndCompare(client, "after", farm: farm, salt: 33)
        #expect(second.log.contains("toolchain stored"), "the client uploaded the toolchain again: \(second.log.suffix(3000))")
        #expect(FileManager.default.contents(atPath: archive) == bytes, "the archive is whole again")
        #expect(!second.log.contains("does not unpack"), "the torn archive was never unpacked")
        let stats = try client.stats()
        let held = stats.total == 2 && second.log.contains("toolchain stored") && !second.log.contains("does not unpack")
        #expect(stats.total == 2, "before and after distributed, the torn one compiled locally: \(stats)\n\(client.log.suffix(3000))")
        print(
            SecurityTests.table(
                [
                    (
                        "toolchain archive torn while the builder was down", (held ? "held" : "BREACHED") + ": evicted at first use, uploaded again",
                        "serves"
                    )
                ],
                title: "Hostile jobs against the \(sandbox) builder (restart)"))
    }

    /// The three `scheduler_auth` types against the matching scheduler `server_auth` (protocol §6.2).
    @Test(arguments: ["DANGEROUSLY_INSECURE", "jwt_token"])
    func registersAndBuildsWithEachServerAuth(type: String) throws {
        let farm = try Farm()
        let port = freePort()
        let key = "AxZkaH80BwctVREiIk4n_ER-RgOutjU4OcgGA0WU04E"
        if type == "DANGEROUSLY_INSECURE" {
            try farm.startKilnScheduler(serverAuth: "type = \"DANGEROUSLY_INSECURE\"")
            try farm.startKilnBuilder(port: port, schedulerAuth: "type = \"DANGEROUSLY_INSECURE\"")
        } else {
            try farm.startKilnScheduler(serverAuth: "type = \"jwt_hs256\"\nsecret_key = \"\(key)\"")
            let token = try runToCompletion(
                Binaries.builderServer, ["auth", "generate-jwt-hs256-server-token", "--server", "127.0.0.1:\(port)", "--secret-key", key])
            #expect(token.status == 0)
            let jwt = token.output.trimmingCharacters(in: .whitespacesAndNewlines)
            try farm.startKilnBuilder(port: port, schedulerAuth: "type = \"jwt_token\"\ntoken = \"\(jwt)\"")
            // A token minted for another address is refused at start, as upstream does.
            let stranger = try farm.startKilnBuilder(port: freePort(), name: "stranger", schedulerAuth: "type = \"jwt_token\"\ntoken = \"\(jwt)\"")
            try farm.waitFor("the mismatched builder to refuse to start") { !stranger.isRunning }
            #expect(stranger.log.contains("generate a token for"), "\(stranger.log)")
        }
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "auth-\(type)")
        try client.start()
        try SchedulerConformanceTests.compileAndCompare(client, "auth", farm: farm, salt: 31)
        #expect(try client.stats().total == 1)
    }
}
