import Foundation
import KilnTestSupport
import Testing

/// The image of deploy/container (built by scripts/container-image, named by `$KILN_IMAGE`) runs both roles:
/// a scheduler container and a rootless builder container (unprivileged user, no capabilities, no new
/// privileges; seccomp and /proc unmasked for bubblewrap, as the Kubernetes DaemonSet) serve real sccache
/// compiles, and `docker stop` drains the builder, which exits 0.
@Suite(.serialized, .requires(ContainerImagePrerequisites.missing())) struct ContainerImageEndToEndTests {
    static let docker = ContainerImagePrerequisites.docker

    @Test func theImageServesRealCompilesAsSchedulerAndRootlessBuilder() throws {
        let image = try #require(Binaries.environment["KILN_IMAGE"])
        let farm = try Farm()
        let (builderPort, metricsPort) = (freePort(), freePort())
        let config = try Self.writeConfigs(farm: farm, builderPort: builderPort, metricsPort: metricsPort)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let names = ["kiln-e2e-scheduler-\(suffix)", "kiln-e2e-builder-\(suffix)"]
        defer { for name in names { _ = try? runToCompletion(Self.docker, ["rm", "-f", name], timeoutSeconds: 60) } }
        let common = ["run", "--rm", "--network", "host", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-v", "\(config):/etc/kiln:ro"]

        farm.adopt(
            try ManagedProcess(
                "container-scheduler", executable: Self.docker,
                arguments: common + [
                    "--name", names[0], "--read-only", "--tmpfs", "/var/lib/kiln-scheduler:uid=10001,gid=10001", image, "scheduler", "--config",
                    "/etc/kiln/scheduler.toml",
                ], logDirectory: farm.root))
        try farm.waitFor("the scheduler container to answer", seconds: 60) { try farm.status() != nil }
        let builder = try ManagedProcess(
            "container-builder", executable: Self.docker,
            arguments: common + [
                "--name", names[1], "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt",
                "systempaths=unconfined", image,
            ], logDirectory: farm.root)
        farm.adopt(builder)
        try farm.waitFor("the builder container to register", seconds: 90) { try farm.status()?.servers == 1 }

        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "container")
        try client.start()
        try SchedulerConformanceTests.compileAndCompare(client, "first", farm: farm, salt: 51)
        try SchedulerConformanceTests.compileAndCompare(client, "second", farm: farm, salt: 52)
        let stats = try client.stats()
        client.stop()
        #expect(stats.total == 2 && stats.distErrors == 0, "two compiles on the containerised farm: \(stats)\n\(farm.logs)")
        let metrics = PrometheusText(try #require(farm.get("http://127.0.0.1:\(metricsPort)/metrics"), "\(farm.logs)"))
        #expect(metrics.value("kiln_builder_jobs_total", ["outcome": "succeeded"]) == 2, "\(metrics.text)")
        #expect(builder.log.contains("rootless"), "the builder uses the rootless sandbox: \(builder.log.suffix(2000))")

        _ = try runToCompletion(Self.docker, ["stop", "--time", "120", names[1]], timeoutSeconds: 180)
        #expect(builder.exitStatus(waitingSeconds: 60) == 0, "docker stop drains the builder and it exits 0\n\(builder.log.suffix(3000))")
    }

    /// scheduler.toml and builder.toml in a folder the container's user (10001) can read.
    static func writeConfigs(farm: Farm, builderPort: UInt16, metricsPort: UInt16) throws -> String {
        let directory = farm.root + "/container-config"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o711], ofItemAtPath: farm.root)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        let files = [
            "scheduler.toml": """
            public_addr = "127.0.0.1:\(farm.schedulerPort)"
            state_dir = "/var/lib/kiln-scheduler"
            [client_auth]
            type = "token"
            token = "\(farm.clientToken)"
            [server_auth]
            type = "token"
            token = "\(farm.serverToken)"
            """,
            "builder.toml": """
            public_addr = "127.0.0.1:\(builderPort)"
            metrics_addr = "127.0.0.1:\(metricsPort)"
            scheduler_url = "\(farm.schedulerURL)"
            cache_dir = "/var/lib/kiln-builder/cache"
            [builder]
            type = "overlay"
            rootless = true
            build_dir = "/var/lib/kiln-builder/build"
            bwrap_path = "/usr/bin/bwrap"
            [scheduler_auth]
            type = "token"
            token = "\(farm.serverToken)"
            """,
        ]
        for (name, text) in files {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(directory)/\(name)")
        }
        return directory
    }
}

/// What the image test needs: the docker CLI and the image `scripts/test` builds.
enum ContainerImagePrerequisites {
    static let docker = "/usr/bin/docker"

    /// Why the image test cannot run here, or nil.
    static func missing() -> String? {
        if let reason = Binaries.missingPrerequisite { return reason }
        guard FileManager.default.isExecutableFile(atPath: docker) else { return "no docker CLI (apt install docker.io)" }
        guard let image = Binaries.environment["KILN_IMAGE"] else { return "KILN_IMAGE is not set (scripts/test builds the image and sets it)" }
        guard (try? runToCompletion(docker, ["image", "inspect", image], timeoutSeconds: 30))?.status == 0 else {
            return "no image \(image) in the Docker engine (scripts/container-image --tag \(image))"
        }
        return nil
    }
}
