import Foundation
import KilnTestSupport
import Testing

/// A real C project from a Debian source package (`apt-get source lua5.4`, 34 translation units; scripts/test
/// fetches it) built with `make CC="sccache gcc"` through Kiln's scheduler and Kiln's build server. Every compile
/// must be distributed and every object byte-identical to a local build.
@Suite(.serialized) struct DebianProjectTests {
    static var sourceDirectory: String {
        ProcessInfo.processInfo.environment["KILN_DEBIAN_SOURCE"]
            ?? SharedVectors.repositoryRoot.appendingPathComponent(".kiln/debian-source/lua5.4").path
    }

    /// Why the build cannot run with `sandbox` here, or nil.
    static func missing(_ sandbox: BuilderSandboxKind) -> String? {
        Binaries.missingPrerequisite ?? sandbox.missingPrerequisite
            ?? (FileManager.default.fileExists(atPath: sourceDirectory + "/src/Makefile")
                ? nil : "no Debian source at \(sourceDirectory) (scripts/test runs apt-get source lua5.4)")
    }

    @Test(.requires(missing(.overlay))) func luaBuildsThroughTheFarmWithIdenticalObjectsWithOverlay() throws {
        try luaBuildsThroughTheFarmWithIdenticalObjects(sandbox: .overlay)
    }

    @Test(.requires(missing(.rootless))) func luaBuildsThroughTheFarmWithIdenticalObjectsWithRootless() throws {
        try luaBuildsThroughTheFarmWithIdenticalObjects(sandbox: .rootless)
    }

    @Test(.requires(missing(.docker))) func luaBuildsThroughTheFarmWithIdenticalObjectsWithDocker() throws {
        try luaBuildsThroughTheFarmWithIdenticalObjects(sandbox: .docker)
    }

    @Test(.requires(missing(.pot))) func luaBuildsThroughTheFarmWithIdenticalObjectsWithPot() throws {
        try luaBuildsThroughTheFarmWithIdenticalObjects(sandbox: .pot)
    }

    func luaBuildsThroughTheFarmWithIdenticalObjects(sandbox: BuilderSandboxKind) throws {
        let farm = try Farm()
        try farm.startKilnScheduler()
        try farm.startKilnBuilder(port: freePort(), sandbox: sandbox)
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.16.0", name: "lua-\(sandbox)")
        try client.start()

        try Self.buildThroughTheFarmAndCompare(farm: farm, client: client)
    }

    static let make = ["-C", "src", "-j3", "linux-noreadline"]
    private static let localLock = NSLock()
    nonisolated(unsafe) private static var local: (path: String, build: (status: Int32, output: String))?

    /// The source built here with `make -j3 CC=gcc`: once per test process, as every farm's build compares its objects
    /// with the same local ones.
    static func localBuild() throws -> (path: String, build: (status: Int32, output: String)) {
        try localLock.withLock {
            if let local { return local }
            let path = try ProcessScratch.path("lua-local")
            try runToCompletion("/bin/cp", ["-a", sourceDirectory, path])
            let built = (path, try runToCompletion("/usr/bin/make", make + ["CC=gcc"], directory: path, timeoutSeconds: 900))
            local = built
            return built
        }
    }

    /// Builds the source with `make -j3 CC="sccache gcc"` through `client` (on `host`, or here) and locally, and
    /// expects every object byte-identical and every compile distributed.
    static func buildThroughTheFarmAndCompare(farm: Farm, client: SccacheClient, host: NetworkHosts.Host? = nil) throws {
        let remote = farm.root + "/lua-remote"
        try runToCompletion("/bin/cp", ["-a", sourceDirectory, remote])
        let (executable, arguments) = farm.on(host, ("/usr/bin/make", make + ["CC=\(client.binary) gcc"]))
        let remoteBuild = try runToCompletion(executable, arguments, environment: client.environment, directory: remote, timeoutSeconds: 900)
        #expect(remoteBuild.status == 0, "make through the farm failed:\n\(remoteBuild.output.suffix(3000))")
        let (local, localBuild) = try localBuild()
        #expect(localBuild.status == 0, "local make failed:\n\(localBuild.output.suffix(3000))")

        let objects = try FileManager.default.contentsOfDirectory(atPath: local + "/src").filter { $0.hasSuffix(".o") }.sorted()
        #expect(objects.count >= 30, "expected at least 30 translation units, got \(objects)")
        for object in objects {
            let remoteBytes = FileManager.default.contents(atPath: "\(remote)/src/\(object)")
            #expect(remoteBytes != nil && remoteBytes == FileManager.default.contents(atPath: "\(local)/src/\(object)"), "\(object) differs")
        }
        let stats = try client.stats()
        #expect(stats.total == objects.count, "every compile must be distributed: \(stats)\n\(farm.logs)")
        #expect(stats.distErrors == 0)
    }
}
