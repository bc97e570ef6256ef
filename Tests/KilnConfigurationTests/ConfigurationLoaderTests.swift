import Foundation
import KilnConfiguration
import KilnProtocol
import KilnTestSupport
import Testing

/// sccache-dist's configuration files load unchanged (0.4 and HEAD key sets), Kiln's shipped examples load, and
/// every mistake names its key.
@Suite struct ConfigurationLoaderTests {
    static let configDirectory = SharedVectors.repositoryRoot.appendingPathComponent("config")

    @Test(arguments: [
        "scheduler.toml", "builder.toml", "builder-docker.toml", "builder-pot.toml", "sccache-dist/scheduler.toml", "sccache-dist/server.toml",
    ])
    func shippedConfigsLoad(_ name: String) throws {
        _ = try ConfigurationLoader.load(path: Self.configDirectory.appendingPathComponent(name).path)
    }

    @Test func upstreamSchedulerFile() throws {
        let path = Self.configDirectory.appendingPathComponent("sccache-dist/scheduler.toml").path
        let configuration = try ConfigurationLoader.loadScheduler(path: path)
        #expect(configuration.publicAddress.description == "127.0.0.1:10601")
        #expect(configuration.clientAuth == .token("clienttoken"))
        guard case .jwtHS256(let key) = configuration.serverAuth else {
            Issue.record("expected jwt_hs256")
            return
        }
        #expect(key.count == 32)
    }

    @Test func jobTimeoutsOfTheScheduler() throws {
        let head = "public_addr = \"127.0.0.1:10600\"\n"
        let tables = "[client_auth]\ntype = \"token\"\ntoken = \"c\"\n[server_auth]\ntype = \"token\"\ntoken = \"s\"\n"
        let defaults = try ConfigurationLoader.parseScheduler(head + tables)
        #expect(defaults.unstartedJobTimeoutSeconds == 300 && defaults.jobLeaseSeconds == 1260)
        let set = try ConfigurationLoader.parseScheduler(head + "unstarted_job_timeout = 20\njob_lease = 900\n" + tables)
        #expect(set.unstartedJobTimeoutSeconds == 20 && set.jobLeaseSeconds == 900)
        Self.expectError(.invalidValue, key: "job_lease", head + "job_lease = 0\n" + tables, builder: false)
        Self.expectError(.invalidValue, key: "unstarted_job_timeout", head + "unstarted_job_timeout = 99999999\n" + tables, builder: false)
    }

    @Test func reapiEndpointOfTheScheduler() throws {
        let head = "public_addr = \"127.0.0.1:10600\"\n"
        let tables = "[client_auth]\ntype = \"token\"\ntoken = \"c\"\n[server_auth]\ntype = \"token\"\ntoken = \"s\"\n"
        #expect(try ConfigurationLoader.parseScheduler(head + tables).reapi == nil, "no endpoint unless asked for")
        let fromState = try ConfigurationLoader.parseScheduler(
            head + "state_dir = \"/var/lib/kiln\"\n" + tables + "[reapi]\nlisten = \"127.0.0.1:8980\"\n")
        #expect(fromState.reapi?.directory == "/var/lib/kiln/reapi")
        #expect(fromState.reapi?.listen == ServerID("127.0.0.1:8980"))
        #expect(fromState.reapi?.casSizeBytes == 10 << 30 && fromState.reapi?.clientUpdates == true && fromState.reapi?.tls == nil)
        let set = try ConfigurationLoader.parseScheduler(
            head + tables
                + "[reapi]\nlisten = \"[::1]:8980\"\ndir = \"/srv/reapi\"\ncas_size = \"2G\"\naction_cache_size = \"64M\"\nclient_updates = false\n"
                + "tls_cert_file = \"/etc/kiln/r.pem\"\ntls_key_file = \"/etc/kiln/r.key\"\n")
        #expect(set.reapi?.directory == "/srv/reapi" && set.reapi?.casSizeBytes == 2 << 30 && set.reapi?.actionCacheSizeBytes == 64 << 20)
        #expect(set.reapi?.clientUpdates == false)
        #expect(set.reapi?.tls == REAPIConfiguration.TLSFiles(certificateFile: "/etc/kiln/r.pem", keyFile: "/etc/kiln/r.key"))
        Self.expectError(.missingKey, key: "reapi.dir", head + tables + "[reapi]\nlisten = \"127.0.0.1:8980\"\n", builder: false)
        Self.expectError(.missingKey, key: "reapi.listen", head + tables + "[reapi]\ndir = \"/x\"\n", builder: false)
        Self.expectError(
            .invalidValue, key: "reapi.cas_size", head + tables + "[reapi]\nlisten = \"127.0.0.1:1\"\ndir = \"/x\"\ncas_size = 10\n", builder: false)
        Self.expectError(
            .invalidValue, key: "reapi.tls_cert_file", head + tables + "[reapi]\nlisten = \"127.0.0.1:1\"\ndir = \"/x\"\ntls_key_file = \"/k\"\n",
            builder: false)
        Self.expectError(
            .unknownKey, key: "reapi.instance", head + tables + "[reapi]\nlisten = \"127.0.0.1:1\"\ndir = \"/x\"\ninstance = \"a\"\n", builder: false)
    }

    @Test func connectionLimitsOfBothServers() throws {
        #expect(try ConfigurationLoader.parseBuilder(Self.goodBuilder).connections == ConnectionLimitsConfiguration())
        let builder = try ConfigurationLoader.parseBuilder("max_connections = 3000\nconnection_idle_timeout = 20\n" + Self.goodBuilder)
        #expect(builder.connections.maxConnections == 3000 && builder.connections.idleTimeoutSeconds == 20)
        Self.expectError(.invalidValue, key: "max_connections", "max_connections = 0\n" + Self.goodBuilder)
        Self.expectError(.invalidValue, key: "connection_idle_timeout", "connection_idle_timeout = -5\n" + Self.goodBuilder)
        let scheduler = try ConfigurationLoader.parseScheduler(
            "public_addr = \"127.0.0.1:1\"\nmax_connections = 9\n[client_auth]\ntype = \"token\"\ntoken = \"c\"\n[server_auth]\ntype = \"token\"\ntoken = \"s\"\n"
        )
        #expect(scheduler.connections.maxConnections == 9 && scheduler.connections.idleTimeoutSeconds == 60)
    }

    @Test func upstreamServerFileAndHeadKeys() throws {
        let builder = try ConfigurationLoader.parseBuilder(
            """
            cache_dir = "/var/cache/sccache"
            public_addr = "[::1]:10501"
            bind_address = "[::]:10501"
            scheduler_url = "10.0.0.1:10600"
            toolchain_cache_size = 5368709120
            [builder]
            type = "docker"
            [scheduler_auth]
            type = "DANGEROUSLY_INSECURE"
            """)
        #expect(builder.sandbox == .docker(DockerConfiguration()))
        #expect(builder.publicAddress.description == "[::1]:10501")
        #expect(builder.bindAddress.description == "[::]:10501")
        #expect(builder.schedulerURL == "http://10.0.0.1:10600")
        #expect(builder.toolchainCacheSize == 5 << 30)
    }

    static let minimalBuilder = """
        cache_dir = "/var/cache/kiln"
        public_addr = "127.0.0.1:10501"
        scheduler_url = "127.0.0.1:10600"
        [builder]
        type = "overlay"
        build_dir = "/var/lib/kiln/build"
        bwrap_path = "/usr/bin/bwrap"
        [scheduler_auth]
        type = "DANGEROUSLY_INSECURE"
        """

    @Test func jobLimitsHaveDefaultsAndEveryKeyIsRead() throws {
        let defaults = try ConfigurationLoader.parseBuilder(Self.minimalBuilder)
        #expect(defaults.jobLimits == JobLimitsConfiguration())
        #expect(defaults.jobLimits.timeoutSeconds == 600 && defaults.jobLimits.memoryBytes == 4 << 30 && defaults.jobLimits.processes == 1024)
        #expect(defaults.sandbox == .overlay(buildDirectory: "/var/lib/kiln/build", bubblewrapPath: "/usr/bin/bwrap", rootless: nil))
        let set = try ConfigurationLoader.parseBuilder(
            Self.minimalBuilder.replacingOccurrences(
                of: "bwrap_path = \"/usr/bin/bwrap\"", with: "bwrap_path = \"/usr/bin/bwrap\"\nrootless = true\nrun_as = \"1234:5678\"")
                    + """

                    [job_limits]
                    timeout = 30
                    memory = "512M"
                    processes = 0
                    cpus = 1.5
                    disk = "1G"
                    output_file_size = "64M"
                    output_total_size = "128M"
                    stream_size = "1M"
                    """)
        #expect(
            set.sandbox
                == .overlay(
                    buildDirectory: "/var/lib/kiln/build", bubblewrapPath: "/usr/bin/bwrap", rootless: true, runAs: UserIDs(uid: 1234, gid: 5678)))
        let reapi = try ConfigurationLoader.parseBuilder(
            Self.minimalBuilder.replacingOccurrences(
                of: "bwrap_path = \"/usr/bin/bwrap\"", with: "bwrap_path = \"/usr/bin/bwrap\"\nreapi_root = [\"/usr\", \"/opt/toolchains\"]"))
        #expect(
            reapi.sandbox
                == .overlay(
                    buildDirectory: "/var/lib/kiln/build", bubblewrapPath: "/usr/bin/bwrap", rootless: nil, reapiRoot: ["/usr", "/opt/toolchains"]))
        let jobs = try ConfigurationLoader.parseBuilder(
            Self.minimalBuilder.replacingOccurrences(
                of: "bwrap_path = \"/usr/bin/bwrap\"", with: "bwrap_path = \"/usr/bin/bwrap\"\njobs_dir = \"/dev/shm\""))
        #expect(
            jobs.sandbox
                == .overlay(buildDirectory: "/var/lib/kiln/build", bubblewrapPath: "/usr/bin/bwrap", rootless: nil, jobsDirectory: "/dev/shm"))
        for refused in ["\"shm\"", "\"/\"", "\"/dev/shm/../etc\""] {
            #expect(throws: ConfigurationError.self, "jobs_dir = \(refused)") {
                try ConfigurationLoader.parseBuilder(
                    Self.minimalBuilder.replacingOccurrences(
                        of: "bwrap_path = \"/usr/bin/bwrap\"", with: "bwrap_path = \"/usr/bin/bwrap\"\njobs_dir = \(refused)"))
            }
        }
        for refused in ["[\"/\"]", "[\"usr\"]", "[\"/usr/../etc\"]"] {
            #expect(throws: ConfigurationError.self, "reapi_root = \(refused)") {
                try ConfigurationLoader.parseBuilder(
                    Self.minimalBuilder.replacingOccurrences(
                        of: "bwrap_path = \"/usr/bin/bwrap\"", with: "bwrap_path = \"/usr/bin/bwrap\"\nreapi_root = \(refused)"))
            }
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parseBuilder(
                Self.minimalBuilder.replacingOccurrences(
                    of: "bwrap_path = \"/usr/bin/bwrap\"", with: "bwrap_path = \"/usr/bin/bwrap\"\nrun_as = \"0:0\""))
        }
        var expected = JobLimitsConfiguration()
        expected.timeoutSeconds = 30
        expected.memoryBytes = 512 << 20
        expected.processes = nil
        expected.cpus = 1.5
        expected.diskBytes = 1 << 30
        (expected.outputFileBytes, expected.outputTotalBytes, expected.streamBytes) = (64 << 20, 128 << 20, 1 << 20)
        #expect(set.jobLimits == expected)
    }

    @Test(arguments: ["timeout = 0", "processes = -1", "cpus = -1", "memory = \"lots\"", "output_file_size = 0", "timeout_secs = 5"])
    func jobLimitsRefused(_ line: String) throws {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parseBuilder(Self.minimalBuilder + "\n[job_limits]\n" + line) }
    }

    @Test func resultCacheAndJobEnvironmentKeys() throws {
        let defaults = try ConfigurationLoader.parseBuilder(Self.minimalBuilder)
        #expect(defaults.resultCache == ResultCacheConfiguration() && defaults.resultCache.enabled && defaults.resultCache.directory == nil)
        #expect(defaults.jobEnvironment.allowlist.contains("GCC_*") && defaults.jobEnvironment.allowlist.contains("SOURCE_DATE_EPOCH"))
        let set = try ConfigurationLoader.parseBuilder(
            Self.minimalBuilder
                + """

                [result_cache]
                enabled = true
                dir = "/srv/kiln-results"
                size = "512M"
                ttl = 3600
                failure_ttl = 0
                max_entry_size = "8M"
                read_only = true

                [job_environment]
                allow_extra = ["MY_FLAGS", "MYTOOL_*"]
                path = "/opt/tc/bin:/usr/bin"
                """)
        var expected = ResultCacheConfiguration()
        (expected.directory, expected.sizeBytes, expected.ttlSeconds) = ("/srv/kiln-results", 512 << 20, 3600)
        (expected.failureTTLSeconds, expected.maxEntryBytes, expected.readOnly) = (0, 8 << 20, true)
        #expect(set.resultCache == expected)
        #expect(set.jobEnvironment.allowlist == JobEnvironmentConfiguration.defaultAllowlist + ["MY_FLAGS", "MYTOOL_*"])
        #expect(set.jobEnvironment.path == "/opt/tc/bin:/usr/bin")
        #expect(defaults.drainTimeoutSeconds == nil)
        let drain = try ConfigurationLoader.parseBuilder("drain_timeout = 120\n" + Self.minimalBuilder)
        #expect(drain.drainTimeoutSeconds == 120)
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parseBuilder("drain_timeout = -1\n" + Self.minimalBuilder) }
        let replaced = try ConfigurationLoader.parseBuilder(Self.minimalBuilder + "\n[job_environment]\nallow = [\"LANG\"]\n")
        #expect(replaced.jobEnvironment.allowlist == ["LANG"])
    }

    @Test func sharedResultCacheKeys() throws {
        let parsed = try ConfigurationLoader.parseBuilder(
            Self.minimalBuilder
                + "\n[result_cache]\nshared_url = \"redis://:urlpass@10.0.0.5:6380/2\"\nshared_timeout_ms = 250\nshared_lease = 30\n")
        #expect(parsed.resultCache.shared == SharedCacheAddress(host: "10.0.0.5", port: 6380, database: 2, password: "urlpass"))
        #expect(parsed.resultCache.sharedTimeoutMilliseconds == 250 && parsed.resultCache.sharedLeaseSeconds == 30)
        let password = try ConfigurationLoader.parseBuilder(
            Self.minimalBuilder + "\n[result_cache]\nshared_url = \"redis://cache.internal\"\nshared_password = \"pw\"\n")
        #expect(password.resultCache.shared == SharedCacheAddress(host: "cache.internal", password: "pw"))
        #expect(SharedCacheAddress(url: "redis://[fd00::7]:7000") == SharedCacheAddress(host: "fd00::7", port: 7000))
        #expect(SharedCacheAddress(url: "redis://user:pw@h/") == SharedCacheAddress(host: "h", password: "pw"))
        for bad in ["http://h:6379", "redis://", "redis://h:0", "redis://h:99999", "redis://h/x", "redis://h:port", "redis://[::1"] {
            #expect(SharedCacheAddress(url: bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: [
        "[result_cache]\nshared_url = \"localhost:6379\"", "[result_cache]\nshared_password = \"pw\"",
        "[result_cache]\nshared_url = \"redis://h\"\nshared_timeout_ms = 0", "[result_cache]\nshared_url = \"redis://h\"\nshared_lease = 0",
        "[result_cache]\nsize = 0", "[result_cache]\nttl = 0", "[result_cache]\nfailure_ttl = -1", "[result_cache]\nenabled = \"yes\"",
        "[result_cache]\nmax_size = 5", "[job_environment]\nallow = [\"A*B\"]", "[job_environment]\nallow_extra = [\"X=1\"]",
        "[job_environment]\npath = \"\"",
    ])
    func resultCacheAndJobEnvironmentRefused(_ table: String) throws {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parseBuilder(Self.minimalBuilder + "\n" + table) }
    }

    @Test func dockerKeysOfKiln() throws {
        let builder = try ConfigurationLoader.parseBuilder(
            """
            cache_dir = "/var/cache/kiln"
            public_addr = "127.0.0.1:10501"
            scheduler_url = "127.0.0.1:10600"
            [builder]
            type = "docker"
            docker_socket = "/run/docker.sock"
            base_image = "my-base:1"
            run_as = "1000:1001"
            memory_limit = 1073741824
            pids_limit = 64
            cpus = 1.5
            idle_containers = 2
            spare_containers = 0
            [scheduler_auth]
            type = "DANGEROUSLY_INSECURE"
            """)
        var expected = DockerConfiguration()
        expected.socketPath = "/run/docker.sock"
        expected.baseImage = "my-base:1"
        (expected.uid, expected.gid) = (1000, 1001)
        expected.memoryBytes = 1 << 30
        expected.pidsLimit = 64
        expected.cpus = 1.5
        expected.idleContainersPerToolchain = 2
        expected.spareContainersPerToolchain = 0
        #expect(builder.sandbox == .docker(expected))
    }

    @Test(arguments: ["run_as = \"0:0\"", "run_as = \"nobody\"", "memory_limit = -1", "cpus = -2", "spare_containers = -1", "docker_sockt = \"/x\""])
    func dockerKeysRefused(_ line: String) throws {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parseBuilder(
                """
                cache_dir = "/var/cache/kiln"
                public_addr = "127.0.0.1:10501"
                scheduler_url = "127.0.0.1:10600"
                [builder]
                type = "docker"
                \(line)
                [scheduler_auth]
                type = "DANGEROUSLY_INSECURE"
                """)
        }
        let key = String(line.prefix { $0 != " " })
        #expect(error?.description.contains(key) == true, "the error names the key: \(String(describing: error))")
    }

    @Test func potDefaults() throws {
        let builder = try ConfigurationLoader.parseBuilder(
            """
            cache_dir = "/c"
            public_addr = "127.0.0.1:1"
            scheduler_url = "https://sched.example:443/"
            [builder]
            type = "pot"
            [scheduler_auth]
            type = "token"
            token = "t"
            """)
        guard case .pot(let pot) = builder.sandbox else {
            Issue.record("not a pot builder: \(builder.sandbox)")
            return
        }
        #expect(pot.fsRoot == "/opt/pot" && pot.cloneFrom == "sccache-template" && pot.potCommand == "pot")
        #expect(pot.cloneArguments == ["-i", "lo0|127.0.0.2"] && pot.jexecCommand == "jexec" && pot.idleContainersPerToolchain == 4)
        #expect(builder.schedulerAuth == .token("t"))
    }

    @Test func potKeysOfBothKindsAndTheirRefusals() throws {
        let header = "cache_dir = \"/c\"\npublic_addr = \"127.0.0.1:1\"\nscheduler_url = \"https://s.example/\"\n[builder]\ntype = \"pot\"\n"
        let auth = "[scheduler_auth]\ntype = \"DANGEROUSLY_INSECURE\"\n"
        let builder = try ConfigurationLoader.parseBuilder(
            header + """
                pot_fs_root = "/zroot/pot"
                clone_from = "tmpl"
                pot_cmd = "/usr/local/bin/pot"
                pot_clone_args = ["-N", "inherit"]
                jexec_cmd = "/usr/sbin/jexec"
                idle_containers = 2

                """ + auth)
        var expected = PotConfiguration()
        (expected.fsRoot, expected.cloneFrom, expected.potCommand) = ("/zroot/pot", "tmpl", "/usr/local/bin/pot")
        (expected.cloneArguments, expected.jexecCommand, expected.idleContainersPerToolchain) = (["-N", "inherit"], "/usr/sbin/jexec", 2)
        #expect(builder.sandbox == .pot(expected))
        for (line, key) in [
            ("pot_fs_root = \"opt/pot\"", "pot_fs_root"), ("idle_containers = -1", "idle_containers"), ("pot_clone_args = \"-i\"", "pot_clone_args"),
            ("jail = 1", "jail"),
        ] {
            do {
                _ = try ConfigurationLoader.parseBuilder(header + line + "\n" + auth)
                Issue.record("'\(line)' was accepted")
            } catch {
                #expect(error is ConfigurationError && "\(error)".contains(key), "names \(key): \(error)")
            }
        }
    }

    @Test func schedulerAuthVariantsOfBothKeySets() throws {
        for (body, expected) in [
            ("type = \"DANGEROUSLY_INSECURE\"", ClientAuthConfiguration.dangerouslyInsecure),
            (
                "type = \"proxy_token\"\nurl = \"http://127.0.0.1:9/check\"\ncache_secs = 60",
                .proxyToken(url: "http://127.0.0.1:9/check", cacheSeconds: 60)
            ),
            (
                "type = \"jwt_validate\"\naudience = \"a\"\nissuer = \"i\"\njwks_url = \"http://127.0.0.1:9/jwks\"",
                .jwtValidate(audience: "a", issuer: "i", jwksURL: "http://127.0.0.1:9/jwks")
            ),
            ("type = \"mozilla\"\nrequired_groups = [\"x\"]", .mozilla(requiredGroups: ["x"])),
        ] {
            let configuration = try ConfigurationLoader.parseScheduler(
                "public_addr = \"127.0.0.1:10600\"\n[client_auth]\n\(body)\n[server_auth]\ntype = \"token\"\ntoken = \"s\"\n")
            #expect(configuration.clientAuth == expected)
        }
    }

    static func expectError(_ code: ConfigurationError.Code, key: String, _ text: String, builder: Bool = true) {
        let error = #expect(throws: ConfigurationError.self) {
            if builder { _ = try ConfigurationLoader.parseBuilder(text) } else { _ = try ConfigurationLoader.parseScheduler(text) }
        }
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.key == key, "\(String(describing: error))")
    }

    static let goodBuilder = """
        cache_dir = "/c"
        public_addr = "127.0.0.1:1"
        scheduler_url = "http://127.0.0.1:2"
        [builder]
        type = "overlay"
        build_dir = "/b"
        bwrap_path = "/usr/bin/bwrap"
        [scheduler_auth]
        type = "token"
        token = "t"
        """

    @Test func mistakesNameTheirKey() {
        Self.expectError(.unknownKey, key: "colour", Self.goodBuilder + "\n[colour]\nx = 1")
        Self.expectError(.missingKey, key: "builder.bwrap_path", Self.goodBuilder.replacingOccurrences(of: "bwrap_path", with: "bwrap"))
        Self.expectError(.invalidValue, key: "public_addr", Self.goodBuilder.replacingOccurrences(of: "127.0.0.1:1", with: "localhost"))
        Self.expectError(.invalidValue, key: "toolchain_cache_size", "toolchain_cache_size = true\n" + Self.goodBuilder)
        Self.expectError(.invalidValue, key: "builder.type", Self.goodBuilder.replacingOccurrences(of: "\"overlay\"", with: "\"chroot\""))
        Self.expectError(.missingKey, key: "cache_dir", Self.goodBuilder.replacingOccurrences(of: "cache_dir = \"/c\"", with: ""))
        Self.expectError(.invalidValue, key: "scheduler_url", Self.goodBuilder.replacingOccurrences(of: "http://127.0.0.1:2", with: "http://h/path"))
        Self.expectError(.syntax, key: "", "this is = = not toml")
        Self.expectError(
            .invalidValue, key: "server_auth.secret_key",
            "public_addr = \"127.0.0.1:1\"\n[client_auth]\ntype = \"DANGEROUSLY_INSECURE\"\n[server_auth]\ntype = \"jwt_hs256\"\nsecret_key = \"short\"",
            builder: false)
    }
}
