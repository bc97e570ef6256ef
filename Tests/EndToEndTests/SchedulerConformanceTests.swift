import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// Kiln's scheduler with the real sccache-dist 0.4.0 build server and the real 0.4.0 and 0.16.0 clients:
/// the conformance cases of protocol §10 and a burst over two servers.
@Suite(.serialized, .requires(Binaries.missingPrerequisite)) struct SchedulerConformanceTests {
    /// Compiles `name` through `client` and locally, and checks the objects are byte-identical.
    static func compileAndCompare(_ client: SccacheClient, _ name: String, farm: Farm, salt: Int) throws {
        let work = "\(farm.root)/src-\(client.version)-\(name)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        _ = try Sources.write(name, in: work, salt: salt)
        let remote = try client.gcc(["-O1", "-c", "\(name).c", "-o", "\(name).o"], in: work)
        #expect(remote.status == 0, "sccache gcc failed: \(remote.output)")
        let local = try runToCompletion("/usr/bin/gcc", ["-O1", "-c", "\(name).c", "-o", "\(name).local.o"], directory: work)
        #expect(local.status == 0)
        let remoteObject = FileManager.default.contents(atPath: "\(work)/\(name).o")
        #expect(remoteObject != nil && remoteObject == FileManager.default.contents(atPath: "\(work)/\(name).local.o"), "objects differ")
    }

    @Test(arguments: ["0.4.0", "0.16.0"])
    func basic(version: String) throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        try farm.startSccacheDistServer(port: freePort())
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: version, name: "basic")
        try client.start()
        try Self.compileAndCompare(client, "basic", farm: farm, salt: 1)
        let stats = try client.stats()
        #expect(stats.total == 1, "expected one distributed compile: \(stats) \(client.log.suffix(2000))")
        #expect(stats.distErrors == 0)
    }

    @Test func restartedServerGetsANewCertificate() throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        let port = freePort()
        let first = try farm.startSccacheDistServer(port: port, name: "server-a")
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "restart")
        try client.start()
        try Self.compileAndCompare(client, "before", farm: farm, salt: 2)
        first.stop()
        try farm.startSccacheDistServer(port: port, name: "server-b")
        usleep(1_500_000)  // the new process heartbeats at start
        try farm.waitForServers(1)
        try Self.compileAndCompare(client, "after", farm: farm, salt: 3)
        let stats = try client.stats()
        #expect(stats.total == 2, "\(stats)")
        #expect(stats.distErrors == 0)
        #expect(client.log.contains("Need to request new certificate"))
    }

    @Test func noBuilderMeansLocalCompile() throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "nobuilder")
        try client.start()
        try Self.compileAndCompare(client, "alone", farm: farm, salt: 4)
        let stats = try client.stats()
        #expect(stats.total == 0)
        #expect(stats.distErrors == 1)
    }

    @Test func failingServerMeansLocalCompile() throws {
        let farm = try Farm()
        // A bubblewrap that reports a good version but dies by a signal on every build: the real server refuses a
        // result for a signalled process and answers run_job with a 500 (protocol §3.3).
        let fakeBwrap = try writeExecutable(
            farm.directory.path + "/failing-bwrap", "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bubblewrap 0.8.0'; exit 0; fi\nkill -9 $$\n")
        try farm.startKilnScheduler()
        try farm.startSccacheDistServer(port: freePort(), bwrap: fakeBwrap)
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "failing")
        try client.start()
        try Self.compileAndCompare(client, "failing", farm: farm, salt: 5)
        let stats = try client.stats()
        #expect(stats.total == 0)
        #expect(stats.distErrors == 1)
    }

    @Test func twoServersShareABurst() throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        try farm.startSccacheDistServer(port: freePort(), name: "burst-a")
        try farm.startSccacheDistServer(port: freePort(), name: "burst-b")
        try farm.waitForServers(2)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "burst")
        try client.start()
        let work = "\(farm.root)/burst"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // Eight heavier compiles at once, with no server holding the toolchain yet: load decides, so both serve.
        let names = (0..<8).map { "unit\($0)" }
        for (index, name) in names.enumerated() { _ = try Sources.writeHeavy(name, in: work, salt: 10 + index) }
        let group = DispatchGroup()
        let failed = Mutex<[String]>([])
        for name in names {
            DispatchQueue.global().async(group: group) {
                let result = try? client.gcc(["-O2", "-c", "\(name).c", "-o", "\(name).o"], in: work)
                if result?.status != 0 { failed.withLock { $0.append(name) } }
            }
        }
        group.wait()
        #expect(failed.withLock { $0 }.isEmpty, "some compiles failed")
        let stats = try client.stats()
        // Each 2-core server takes at most 2 + 1 + 0 = 3 jobs at once; a job beyond that gets Fail and is
        // compiled locally, which the client counts as a dist error.
        #expect(stats.total >= 6, "\(stats)")
        #expect(stats.total + stats.distErrors == 8, "\(stats)")
        #expect(stats.distCompiles.count == 2, "both servers should have taken jobs: \(stats.distCompiles)")
    }
}
