import BuilderCore
import KilnProtocol
import Testing

@Suite struct ResultCacheKeyTests {
    static let policy = JobEnvironmentPolicy(allowlist: ["GCC_*", "LANG", "LC_*", "SOURCE_DATE_EPOCH", "CPATH"], path: "/usr/bin:/bin")

    struct Job {
        var toolchainContent: [UInt8] = Array(repeating: 7, count: 32)
        var command = CompileCommand(
            executable: "/usr/bin/gcc", arguments: ["-x", "cpp-output", "-c", "a.c", "-o", "a.o"],
            environment: [
                EnvironmentVariable("LANG", "C.UTF-8"), EnvironmentVariable("SHLVL", "1"),
                EnvironmentVariable("SCCACHE_DIR", "/home/runner1/.cache"), EnvironmentVariable("OLDPWD", "/home/runner1"),
            ],
            cwd: "/build/src")
        var outputs = ["/build/src/a.o", "/build/src/a.d"]
        var inputs: [UInt8] = Array(repeating: 1, count: 32)
        var streamLimit = 16 << 20

        var key: ResultCacheKey {
            ResultCacheKey(
                toolchainContent: toolchainContent, command: ResultCacheKeyTests.policy.command(command), outputs: outputs, inputsDigest: inputs,
                streamLimit: streamLimit)
        }
    }

    @Test func twoRunnersWithDifferentShellsShareAKey() {
        var other = Job()
        other.command.environment = [
            EnvironmentVariable("OLDPWD", "/home/runner2"), EnvironmentVariable("TERM", "xterm"), EnvironmentVariable("SHLVL", "3"),
            EnvironmentVariable("LANG", "C.UTF-8"), EnvironmentVariable("PATH", "/home/runner2/bin:/usr/bin"),
        ]
        other.outputs.reverse()
        #expect(Job().key == other.key, "only allowed variables count, and outputs are a set")
        #expect(Job().key.hex.count == 64 && ResultCacheKey(hex: Job().key.hex) == Job().key)
    }

    @Test func everyKeyedFieldChangesTheKey() {
        let changes: [(String, (inout Job) -> Void)] = [
            ("toolchain content", { $0.toolchainContent[0] = 8 }),
            ("executable", { $0.command.executable = "/usr/bin/g++" }),
            ("argument", { $0.command.arguments[5] = "b.o" }),
            ("argument order", { $0.command.arguments.swapAt(2, 3) }),
            ("argument split", { $0.command.arguments = ["-x cpp-output", "-c", "a.c", "-o", "a.o"] }),
            ("allowed variable value", { $0.command.environment[0].value = "de_DE.UTF-8" }),
            ("allowed variable added", { $0.command.environment.append(EnvironmentVariable("GCC_COLORS", "")) }),
            ("prefix variable added", { $0.command.environment.append(EnvironmentVariable("LC_ALL", "C")) }),
            ("allowed PATH override", { $0.command.environment.append(EnvironmentVariable("CPATH", "/opt/include")) }),
            ("cwd", { $0.command.cwd = "/build/other" }),
            ("output", { $0.outputs[1] = "/build/src/a.dwo" }),
            ("output dropped", { $0.outputs.removeLast() }),
            ("inputs", { $0.inputs[31] = 2 }),
            ("stream limit", { $0.streamLimit = 1 << 20 }),
        ]
        var keys: Set<ResultCacheKey> = [Job().key]
        for (name, change) in changes {
            var job = Job()
            change(&job)
            #expect(keys.insert(job.key).inserted, "changing the \(name) must change the key")
        }
    }

    @Test func policyPassesOnlyAllowedVariablesAndAFixedPath() {
        let environment = Self.policy.environment(from: [
            EnvironmentVariable("TERM", "xterm"), EnvironmentVariable("GCC_EXEC_PREFIX", "/x/"), EnvironmentVariable("LANG", "C"),
            EnvironmentVariable("LANG", "en_US.UTF-8"), EnvironmentVariable("LC_MESSAGES", "C"), EnvironmentVariable("A=B", "c"),
            EnvironmentVariable("PATH", "/home/me/bin"), EnvironmentVariable("LD_PRELOAD", "/evil.so"),
        ])
        #expect(
            environment == [
                EnvironmentVariable("GCC_EXEC_PREFIX", "/x/"), EnvironmentVariable("LANG", "en_US.UTF-8"),
                EnvironmentVariable("LC_MESSAGES", "C"), EnvironmentVariable("PATH", "/usr/bin:/bin"),
            ], "sorted, last value wins, PATH fixed, the rest dropped")
        let withPath = JobEnvironmentPolicy(allowlist: ["PATH"], path: "/bin")
        #expect(withPath.environment(from: [EnvironmentVariable("PATH", "/opt/bin")]) == [EnvironmentVariable("PATH", "/opt/bin")])
    }
}
