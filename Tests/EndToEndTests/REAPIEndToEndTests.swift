import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// The scheduler's REAPI endpoint with real clients: BuildGrid's `bgd` moves a tree through the CAS and runs a
/// compile on the farm, and Bazel 4.2.3 uses the farm as its remote cache and its remote executor.
@Suite(.serialized) struct REAPIEndToEndTests {
    static var bgd: String? {
        let path = Binaries.environment["KILN_BGD"] ?? SharedVectors.repositoryRoot.appendingPathComponent(".kiln/buildgrid/bin/bgd").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }
    static let bazel = BazelWorkspace.bazel

    static var missingBgd: String? {
        Binaries.missingPrerequisite ?? (bgd == nil ? "bgd is missing (scripts/test installs buildgrid from PyPI into .kiln/buildgrid)" : nil)
    }
    static var missingBazel: String? {
        Binaries.missingPrerequisite
            ?? (FileManager.default.isExecutableFile(atPath: bazel) ? nil : "\(bazel) is missing (scripts/test installs Debian's bazel-bootstrap)")
    }

    /// A farm whose scheduler serves REAPI on a port of its own; returns the `grpc://` address.
    static func startScheduler(_ farm: Farm, port: UInt16) throws {
        try farm.startKilnScheduler(tables: "[reapi]\nlisten = \"127.0.0.1:\(port)\"\ncas_size = \"256M\"\n")
        try farm.waitFor("the REAPI endpoint to listen") { farm.processes.last?.log.contains("REAPI endpoint listening") == true }
    }

    /// The farm's client token in a file, as bgd's `--auth-token` takes it.
    static func tokenFile(_ farm: Farm) throws -> String {
        try farm.directory.write("client-token", Array(farm.clientToken.utf8))
    }

    /// A scheduler serving REAPI and one Kiln overlay builder that runs its actions.
    static func startFarm(_ farm: Farm, port: UInt16, builderTables: String = "") throws {
        try startScheduler(farm, port: port)
        try farm.startKilnBuilder(port: freePort(), tables: builderTables)
        try farm.waitForServers(1)
    }

    /// A tree of every kind of entry: nested directories, an executable, a symlink, an empty file and a file
    /// larger than one batch (ByteStream's path).
    static func writeTree(at root: String) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: root + "/src/deep/er", withIntermediateDirectories: true)
        try Data("int main(void) { return 0; }\n".utf8).write(to: URL(fileURLWithPath: root + "/src/main.c"))
        try Data("#!/bin/sh\necho run\n".utf8).write(to: URL(fileURLWithPath: root + "/src/deep/run.sh"))
        try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/src/deep/run.sh")
        try Data().write(to: URL(fileURLWithPath: root + "/src/deep/er/empty"))
        try files.createSymbolicLink(atPath: root + "/src/link.c", withDestinationPath: "main.c")
        let large = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try Data(large).write(to: URL(fileURLWithPath: root + "/src/large.bin"))
    }

    @Test(.requires(missingBgd)) func bgdMovesATreeThroughTheCASAcrossARestart() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startScheduler(farm, port: port)
        try Self.writeTree(at: farm.root + "/in")
        let remote = ["--remote", "http://127.0.0.1:\(port)", "--auth-token", try Self.tokenFile(farm)]
        let refused = try runToCompletion(Self.bgd!, ["capabilities", "--remote", "http://127.0.0.1:\(port)"], timeoutSeconds: 60)
        #expect(refused.status != 0 && refused.output.contains("no bearer token"), "no token, no answer: \(refused.output.suffix(1000))")
        let upload = try runToCompletion(Self.bgd!, ["cas"] + remote + ["upload-dir", farm.root + "/in/src"], timeoutSeconds: 120)
        #expect(upload.status == 0, "\(upload.output)\n\(farm.logs)")
        let pushed = upload.output.split(separator: "\n").last { $0.contains("Pushed path=[\(farm.root)/in/src]") }
        let digest = try #require(pushed?.split(separator: "[").last?.split(separator: "]").first.map(String.init), "\(upload.output)")

        // The scheduler goes down and comes back on the same directory: the tree is still there.
        farm.processes.last?.stop()
        try Self.startScheduler(farm, port: port)
        let download = try runToCompletion(Self.bgd!, ["cas"] + remote + ["download-dir", digest, farm.root + "/out"], timeoutSeconds: 120)
        #expect(download.status == 0, "\(download.output)\n\(farm.logs)")
        let compare = try runToCompletion("/usr/bin/diff", ["-r", "--no-dereference", farm.root + "/in/src", farm.root + "/out"])
        #expect(compare.status == 0, "\(compare.output)")
        let mode = try FileManager.default.attributesOfItem(atPath: farm.root + "/out/deep/run.sh")[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o100 != 0 } == true, "the executable bit came back")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: farm.root + "/out/link.c") == "main.c")
    }

    /// Bazel 4.2.3 (Debian's bazel-bootstrap, offline) builds genrules with the scheduler as its remote cache;
    /// after `bazel clean` every action is a remote cache hit and the outputs are the same bytes.
    @Test(.requires(missingBazel)) func bazelUsesTheSchedulerAsItsRemoteCache() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startScheduler(farm, port: port)
        let workspace = try BazelWorkspace(
            in: farm.root, token: farm.clientToken,
            build: """
                genrule(name = "words", outs = ["words.txt"], cmd = "for i in $$(seq 1 5000); do echo word$$i; done > $@")
                genrule(name = "upper", srcs = [":words"], outs = ["upper.txt"], cmd = "tr a-z A-Z < $< > $@")
                genrule(name = "count", srcs = [":upper"], outs = ["count.txt"], cmd = "wc -l < $< > $@")
                """)
        let build = ["build", "--remote_cache=grpc://127.0.0.1:\(port)", "--spawn_strategy=standalone", "//:count"]
        let first = try workspace.run(build)
        #expect(first.status == 0 && first.processes.hasSuffix("processes: 1 internal, 3 local."), "\(first.output.suffix(3000))\n\(farm.logs)")
        let built = try workspace.output("count.txt")
        _ = try workspace.run(["clean"])
        let again = try workspace.run(build)
        #expect(again.status == 0 && again.processes.hasSuffix("processes: 3 remote cache hit, 1 internal."), "nothing ran locally")
        #expect(try workspace.output("count.txt") == built)
        #expect(String(decoding: built, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "5000")
    }

    /// `bgd execute command` runs gcc on the farm: the object file comes back through the CAS, the same bytes as gcc
    /// here makes.
    @Test(.requires(missingBgd)) func bgdExecutesACompileOnTheFarm() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startFarm(farm, port: port)
        try FileManager.default.createDirectory(atPath: farm.root + "/in/src", withIntermediateDirectories: true)
        try Data("int twice(int x) { return 2 * x; }\n".utf8).write(to: URL(fileURLWithPath: farm.root + "/in/src/t.c"))
        let execute = try runToCompletion(
            Self.bgd!,
            [
                "execute", "--remote", "http://127.0.0.1:\(port)", "--auth-token", try Self.tokenFile(farm), "command", "--output-file", "src/t.o",
                "--output-directory", farm.root + "/out",
                farm.root + "/in", "--", "/usr/bin/gcc", "-c", "src/t.c", "-o", "src/t.o",
            ], timeoutSeconds: 120)
        #expect(execute.status == 0, "\(execute.output.suffix(3000))\n\(farm.logs)")
        let local = try runToCompletion("/usr/bin/gcc", ["-c", "src/t.c", "-o", farm.root + "/local.o"], directory: farm.root + "/in")
        #expect(local.status == 0)
        let remote = try Data(contentsOf: URL(fileURLWithPath: farm.root + "/out/src/t.o"))
        #expect(remote == (try Data(contentsOf: URL(fileURLWithPath: farm.root + "/local.o"))))

        // An overlay builder runs actions on its host's /usr: an action that names an image is refused, and says why.
        let imaged = try Self.bgdExecute(
            farm, port: port, outputs: ["src/t.o"], platform: [("container-image", "docker://debian:12")],
            ["/usr/bin/gcc", "-c", "src/t.c", "-o", "src/t.o"], tag: "imaged")
        #expect(imaged.output.contains("unsupportedPlatform") && imaged.output.contains("drop the property"), "\(imaged.output.suffix(2000))")
    }

    /// `bgd execute command` on the farm, the outputs into `out`; returns bgd's exit status and output.
    static func bgdExecute(
        _ farm: Farm, port: UInt16, outputs: [String], platform: [(String, String)] = [], _ command: [String], tag: String
    ) throws -> (status: Int32, output: String) {
        let execute = try runToCompletion(
            Self.bgd!,
            ["execute", "--remote", "http://127.0.0.1:\(port)", "--auth-token", try Self.tokenFile(farm), "command"]
                + outputs.flatMap { ["--output-file", $0] } + platform.flatMap { ["-p", $0.0, $0.1] }
                + ["--output-directory", farm.root + "/out-" + tag, farm.root + "/in", "--"] + command, timeoutSeconds: 180)
        return (execute.status, execute.output)
    }

    /// An image of the test's own, imported into the engine with no registry: a static busybox as /bin/sh, a
    /// marker file, PATH=/bin, and an entrypoint that would end any container that used it.
    static func importActionImage(_ farm: Farm, tag: String) throws {
        let root = farm.root + "/action-image"
        let files = FileManager.default
        for directory in ["bin", "etc", "tmp"] { try files.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true) }
        try files.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        try files.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "busybox")
        try Data("from the action's image\n".utf8).write(to: URL(fileURLWithPath: root + "/etc/marker"))
        try files.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: root + "/tmp")
        let changes = ["ENV PATH=/bin", "ENTRYPOINT [\"/bin/false\"]"].map {
            "changes=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        }
        let imported = try runToCompletion(
            "/bin/sh",
            [
                "-c",
                "tar -C \"$1\" --owner=0 --group=0 -c . | curl -fsS --max-time 120 --unix-socket \"$2\" -X POST -H 'Content-Type: application/x-tar' --data-binary @- \"$3\"",
                "import", root, DockerEngineForTests.socket,
                "http://docker/v1.41/images/create?fromSrc=-&repo=kiln-test-action&tag=\(tag)&" + changes.joined(separator: "&"),
            ], timeoutSeconds: 180)
        #expect(imported.status == 0 && !imported.output.contains("\"error\""), "\(imported.output)")
    }

    static func removeActionImage(tag: String) {
        _ = try? runCommand(
            "/usr/bin/curl",
            ["-fsS", "-X", "DELETE", "--unix-socket", DockerEngineForTests.socket, "http://docker/v1.41/images/kiln-test-action:\(tag)?force=1"])
    }

    static var missingDockerBgd: String? { missingBgd ?? BuilderSandboxKind.docker.missingPrerequisite }

    /// A docker builder runs actions in the image their `container-image` property names (its files, its PATH, its
    /// entrypoint dropped), or in the base image when none is named; an image the engine lacks fails the action
    /// with a clear error (the builder pulls nothing).
    @Test(.requires(missingDockerBgd)) func aDockerBuilderRunsActionsInTheirContainerImage() throws {
        let farm = try Farm()
        let port = freePort()
        let tag = "t\(getpid())"
        try Self.importActionImage(farm, tag: tag)
        defer { Self.removeActionImage(tag: tag) }
        try Self.startScheduler(farm, port: port)
        try farm.startKilnBuilder(port: freePort(), sandbox: .docker)
        try farm.waitForServers(1)
        try FileManager.default.createDirectory(atPath: farm.root + "/in/src", withIntermediateDirectories: true)
        try Data("input from the client\n".utf8).write(to: URL(fileURLWithPath: farm.root + "/in/src/input.txt"))

        let inImage = try Self.bgdExecute(
            farm, port: port, outputs: ["src/result.txt"], platform: [("container-image", "docker://kiln-test-action:\(tag)")],
            ["sh", "-c", "busybox cat /etc/marker src/input.txt > src/result.txt; busybox id -u >> src/result.txt"], tag: "image")
        #expect(inImage.status == 0, "\(inImage.output.suffix(3000))\n\(farm.logs)")
        let result = try? String(contentsOfFile: farm.root + "/out-image/src/result.txt", encoding: .utf8)
        #expect(
            result == "from the action's image\ninput from the client\n65532\n",
            "ran in the image, as the job user: \(inImage.output.suffix(1500))\n\(farm.logs)")

        let inBase = try Self.bgdExecute(
            farm, port: port, outputs: ["where.txt"],
            ["/.kiln/busybox", "sh", "-c", "if [ -e /etc/marker ]; then echo image; else echo base; fi > where.txt"], tag: "base")
        #expect(inBase.status == 0, "\(inBase.output.suffix(3000))\n\(farm.logs)")
        #expect((try? String(contentsOfFile: farm.root + "/out-base/where.txt", encoding: .utf8)) == "base\n")

        let missing = try Self.bgdExecute(
            farm, port: port, outputs: ["x"], platform: [("container-image", "docker://kiln-test-absent:\(tag)")], ["sh", "-c", "true"],
            tag: "missing")
        #expect(missing.output.contains("unsupportedPlatform") && missing.output.contains("is not on this builder"), "\(missing.output.suffix(2000))")
    }

    /// A farm of one overlay and one docker builder: actions that name an image end on the docker builder (the
    /// overlay builder refuses them, and is skipped for that image afterwards); every one succeeds.
    @Test(.requires(missingDockerBgd)) func aMixedFarmSendsImageActionsToItsDockerBuilder() throws {
        let farm = try Farm()
        let port = freePort()
        let tag = "m\(getpid())"
        try Self.importActionImage(farm, tag: tag)
        defer { Self.removeActionImage(tag: tag) }
        try Self.startScheduler(farm, port: port)
        // Equal builders are ranked by address: the overlay builder's sorts first, so the first action goes there.
        let ports = [freePort(), freePort()].sorted { "\($0)" < "\($1)" }
        try farm.startKilnBuilder(port: ports[0])
        try farm.startKilnBuilder(port: ports[1], sandbox: .docker)
        try farm.waitForServers(2)
        try FileManager.default.createDirectory(atPath: farm.root + "/in", withIntermediateDirectories: true)
        for round in 0..<4 {
            let run = try Self.bgdExecute(
                farm, port: port, outputs: ["where.txt"], platform: [("container-image", "docker://kiln-test-action:\(tag)")],
                ["sh", "-c", "busybox cat /etc/marker > where.txt; echo \(round) >> where.txt"], tag: "mixed\(round)")
            let output = try? String(contentsOfFile: farm.root + "/out-mixed\(round)/where.txt", encoding: .utf8)
            #expect(output == "from the action's image\n\(round)\n", "round \(round): \(run.output.suffix(2000))\n\(farm.logs)")
        }
        let refusals = farm.logs.split(separator: "\n").filter { $0.contains("build failed") && $0.contains("unsupportedPlatform") }
        #expect(refusals.count == 1, "the overlay builder was asked once, then skipped:\n\(refusals.joined(separator: "\n"))")
    }

    static let program = [
        "hello.c": "#include <stdio.h>\n#include \"greet.h\"\nint main(void) { greet(\"farm\"); return 0; }\n",
        "greet.h": "void greet(const char *who);\n",
        "greet.c": "#include <stdio.h>\n#include \"greet.h\"\nvoid greet(const char *who) { printf(\"hello, %s\\n\", who); }\n",
    ]

    /// A rule whose action makes a directory (a tree artifact: REAPI's output directories).
    static let treeRule = """
        def _tree_impl(ctx):
            out = ctx.actions.declare_directory(ctx.attr.name)
            ctx.actions.run_shell(
                outputs = [out],
                command = "mkdir -p {0}/sub/deep {0}/empty && echo a > {0}/a.txt && echo b > {0}/sub/deep/b.txt && printf '#!/bin/sh\\necho run\\n' > {0}/run.sh && chmod +x {0}/run.sh".format(out.path),
            )
            return [DefaultInfo(files = depset([out]))]

        tree = rule(implementation = _tree_impl)

        def _escaping_tree_impl(ctx):
            out = ctx.actions.declare_directory(ctx.attr.name)
            ctx.actions.run_shell(outputs = [out], command = "mkdir -p {0} && echo x > {0}/x && ln -s /etc/shadow {0}/shadow".format(out.path))
            return [DefaultInfo(files = depset([out]))]

        escaping_tree = rule(implementation = _escaping_tree_impl)
        """

    /// Bazel builds genrules and a C program with every action on the farm (`N remote`, nothing local); the program
    /// runs, is byte for byte what a local Bazel build makes, and after `bazel clean` every action is a remote
    /// cache hit.
    @Test(.requires(missingBazel)) func bazelRunsEveryActionOnTheFarm() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startFarm(farm, port: port)
        let workspace = try BazelWorkspace(
            in: farm.root, token: farm.clientToken,
            build: """
                load(":tree.bzl", "tree")
                genrule(name = "words", outs = ["words.txt"], cmd = "for i in $$(seq 1 500); do echo word$$i; done > $@")
                genrule(name = "upper", srcs = [":words"], outs = ["upper.txt"], cmd = "tr a-z A-Z < $< > $@")
                cc_binary(name = "hello", srcs = ["hello.c", "greet.c", "greet.h"])
                tree(name = "tree")
                """, files: Self.program.merging(["tree.bzl": Self.treeRule], uniquingKeysWith: { $1 }))
        let remote = ["build", "--remote_executor=grpc://127.0.0.1:\(port)", "//:upper", "//:hello", "//:tree"]
        let first = try workspace.run(remote)
        #expect(first.status == 0, "\(first.output.suffix(3000))\n\(farm.logs)")
        #expect(
            first.processes.hasSuffix(" 6 remote."), "two genrules, two compiles, a link and a tree artifact, all remote: \(first.processes)")
        let program = try workspace.output("hello")
        let ran = try runToCompletion(workspace.root + "/bazel-bin/hello", [])
        #expect(ran.output == "hello, farm\n")
        #expect(String(decoding: try workspace.output("upper.txt"), as: UTF8.self).hasPrefix("WORD1\nWORD2\n"))
        // The tree artifact (an output directory) came back: nested files and their modes. (Bazel 4 makes no empty
        // directory of a Tree, bazelbuild/bazel#15789; ExecutionServiceTests checks the Tree holds them.)
        #expect(String(decoding: try workspace.output("tree/sub/deep/b.txt"), as: UTF8.self) == "b\n")
        #expect(String(decoding: try workspace.output("tree/a.txt"), as: UTF8.self) == "a\n")
        #expect(FileManager.default.isExecutableFile(atPath: workspace.root + "/bazel-bin/tree/run.sh"))

        _ = try workspace.run(["clean"])
        let again = try workspace.run(remote)
        #expect(again.processes.contains(" 6 remote cache hit"), "\(again.processes)")
        #expect(!again.processes.contains(" remote.") && !again.processes.contains("local"), "\(again.processes)")

        _ = try workspace.run(["clean"])
        let local = try workspace.run(["build", "--spawn_strategy=standalone", "//:hello"])
        #expect(local.status == 0, "\(local.output.suffix(3000))")
        #expect(try workspace.output("hello") == program, "the farm's program is the local build's, byte for byte")
    }

    /// Actions are held to the sandbox and limits of sccache's jobs: no network (not even the scheduler on
    /// loopback), none of the host's files but /usr, no output that is a symlink out, and the job timeout.
    @Test(.requires(missingBazel)) func hostileActionsStayInTheirSandbox() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startFarm(farm, port: port, builderTables: "[job_limits]\ntimeout = 5\n")
        let secret = farm.root + "/secret.txt"
        try Data("host secret".utf8).write(to: URL(fileURLWithPath: secret))
        let workspace = try BazelWorkspace(
            in: farm.root, token: farm.clientToken,
            build: """
                genrule(name = "net", outs = ["net.txt"], cmd = "if (echo hi > /dev/tcp/127.0.0.1/\(farm.schedulerPort)) 2>/dev/null; then echo reached; else echo isolated; fi > $@")
                genrule(name = "files", outs = ["files.txt"], cmd = "(cat \(secret) /etc/shadow /root/.bashrc 2>/dev/null || true; ls /) > $@")
                genrule(name = "escape", outs = ["escape.txt"], cmd = "ln -s /usr/bin/gcc $@")
                genrule(name = "sleeper", outs = ["sleeper.txt"], cmd = "sleep 60; touch $@")
                load(":tree.bzl", "escaping_tree")
                escaping_tree(name = "escaping_tree")
                """, files: ["tree.bzl": Self.treeRule])
        let remote = ["build", "--remote_executor=grpc://127.0.0.1:\(port)"]
        let contained = try workspace.run(remote + ["//:net", "//:files"])
        #expect(contained.status == 0, "\(contained.output.suffix(3000))\n\(farm.logs)")
        #expect(String(decoding: try workspace.output("net.txt"), as: UTF8.self) == "isolated\n")
        let listing = String(decoding: try workspace.output("files.txt"), as: UTF8.self)
        #expect(!listing.contains("host secret"))
        #expect(listing.split(separator: "\n").sorted() == ["bin", "dev", "lib", "lib64", "proc", "sbin", "tmp", "usr", "work"], "\(listing)")

        let escape = try workspace.run(remote + ["//:escape"])
        #expect(escape.status != 0 && escape.output.contains("unsafeOutput"), "a symlink is not an output: \(escape.output.suffix(2000))")
        let escapingTree = try workspace.run(remote + ["//:escaping_tree"])
        #expect(
            escapingTree.status != 0 && escapingTree.output.contains("unsafeOutput"),
            "nor is one in an output directory: \(escapingTree.output.suffix(2000))")
        let sleeper = try workspace.run(remote + ["//:sleeper"])
        #expect(sleeper.status != 0 && sleeper.output.contains("failed due to timeout"), "the job timeout ends it: \(sleeper.output.suffix(2000))")
    }

    static var missingRootlessBazel: String? { missingBazel ?? BuilderSandboxKind.rootless.missingPrerequisite }

    /// sccache's client and Bazel at once on one rootless builder with two slots: both are served (every compile on
    /// the farm unless it was full, every action remote); the scheduler never places more jobs on the builder than
    /// its cap (sccache's cores + 1 + cores/8), and the builder never runs more than its two slots at once.
    @Test(.requires(missingRootlessBazel)) func sccacheAndBazelShareOneFarm() throws {
        let farm = try Farm()
        let port = freePort()
        try Self.startScheduler(farm, port: port)
        let metricsPort = freePort()
        try farm.startKilnBuilder(port: freePort(), maxJobs: 2, sandbox: .rootless, topLevel: "metrics_addr = \"127.0.0.1:\(metricsPort)\"\n")
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.4.0", name: "shared")
        try client.start()
        let sources = try (0..<6).map { try Sources.writeHeavy("unit\($0)", in: farm.root, salt: 40 + $0, functions: 150) }
        let rules = (0..<6).map { "genrule(name = \"g\($0)\", outs = [\"g\($0).txt\"], cmd = \"sleep 1; echo \($0) > $@\")" }
        let workspace = try BazelWorkspace(in: farm.root, token: farm.clientToken, build: rules.joined(separator: "\n") + "\n")

        let sampler = FarmSampler(farm: farm, builderMetrics: "http://127.0.0.1:\(metricsPort)/metrics")
        sampler.start()
        let compiled = DispatchGroup()
        let failures = Mutex<[String]>([])
        DispatchQueue.global().async(group: compiled) {
            for source in sources {
                let result = try? client.gcc(["-c", "-O2", source, "-o", source + ".o"], in: farm.root)
                if result?.status != 0 { failures.withLock { $0.append("\(source): \(result?.output ?? "did not run")") } }
            }
        }
        let bazel = try workspace.run(["build", "--jobs=4", "--remote_executor=grpc://127.0.0.1:\(port)"] + (0..<6).map { "//:g\($0)" })
        compiled.wait()
        let seen = sampler.stop()

        #expect(bazel.status == 0 && bazel.processes.hasSuffix(" 6 remote."), "\(bazel.output.suffix(2000))\n\(farm.logs)")
        #expect(failures.withLock { $0 }.isEmpty)
        let stats = try client.stats()
        // A client told the farm is full compiles locally (protocol §2.9), and sccache 0.4 counts that as a dist
        // error: every compile ends in an object, at least one went to the farm, the rest were told it was full.
        #expect(stats.total >= 1 && stats.total + stats.distErrors == 6, "compiles went to the farm: \(stats)\n\(client.log.suffix(2000))")
        #expect(seen.samples > 0 && seen.mostJobs <= seen.cap && seen.cap == 3, "the scheduler kept to its cap: \(seen)")
        #expect(seen.mostBusySlots == 2, "the builder ran two jobs at once, never more: \(seen)")
        #expect(seen.toolchains == 2, "gcc's toolchain and the REAPI root both went to the builder: \(seen)")
        // The scheduler's metrics tell the two kinds apart (a builder's Complete may arrive just after the answer).
        func completed(_ kind: String) -> Double? {
            farm.get(farm.schedulerURL + "/metrics").flatMap {
                PrometheusText($0).value("kiln_scheduler_jobs_by_kind_total", ["kind": kind, "outcome": "completed"])
            }
        }
        try farm.waitFor("every job's Complete", seconds: 20) { completed("reapi") == 6 && completed("sccache") == Double(stats.total) }
        // So do the builder's own: each job is counted as it ends, before its answer goes out.
        let builder = PrometheusText(farm.get("http://127.0.0.1:\(metricsPort)/metrics") ?? "")
        #expect(builder.value("kiln_builder_jobs_by_kind_total", ["kind": "reapi", "outcome": "succeeded"]) == 6, "\(builder.text)")
        #expect(builder.value("kiln_builder_jobs_by_kind_total", ["kind": "sccache", "outcome": "succeeded"]) == Double(stats.total))
        #expect(builder.value("kiln_builder_jobs_running_by_kind", ["kind": "reapi"]) == 0)
    }
}

/// Reads the scheduler's status JSON and one builder's metrics over and over until stopped: the most jobs the
/// scheduler had on a builder at once and its cap, the most slots the builder had busy, and the toolchains the
/// farm held last.
final class FarmSampler: @unchecked Sendable {
    struct Seen: CustomStringConvertible {
        var samples = 0, mostJobs = 0, cap = 0, mostBusySlots = 0, toolchains = 0
        var description: String { "\(samples) samples, jobs \(mostJobs) of \(cap), busy slots \(mostBusySlots), \(toolchains) toolchains" }
    }
    let farm: Farm
    let builderMetrics: String
    private let state = Mutex<(running: Bool, seen: Seen)>((false, Seen()))
    private let finished = DispatchGroup()

    init(farm: Farm, builderMetrics: String) {
        self.farm = farm
        self.builderMetrics = builderMetrics
    }

    func start() {
        state.withLock { $0.running = true }
        DispatchQueue.global().async(group: finished) { [self] in
            while state.withLock({ $0.running }) {
                if let text = farm.get(farm.schedulerURL + "/api/v1/kiln/status"),
                    let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    let farmJSON = json["farm"] as? [String: Any], let servers = farmJSON["servers"] as? [[String: Any]]
                {
                    let jobs = servers.map { $0["jobs"] as? Int ?? 0 }.max() ?? 0
                    let cap = servers.map { $0["slots"] as? Int ?? 0 }.max() ?? 0
                    let toolchains = farmJSON["toolchains"] as? Int ?? 0
                    state.withLock {
                        $0.seen.samples += 1
                        ($0.seen.mostJobs, $0.seen.cap, $0.seen.toolchains) = (max($0.seen.mostJobs, jobs), cap, toolchains)
                    }
                }
                let busy = farm.get(builderMetrics)?.split(separator: "\n").first { $0.hasPrefix("kiln_builder_slots_busy ") }
                if let value = busy?.split(separator: " ").last.flatMap({ Double($0) }) {
                    state.withLock { $0.seen.mostBusySlots = max($0.seen.mostBusySlots, Int(value)) }
                }
                usleep(50_000)
            }
        }
    }

    func stop() -> Seen {
        state.withLock { $0.running = false }
        finished.wait()
        return state.withLock { $0.seen }
    }
}
