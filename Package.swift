// swift-tools-version:6.2
import PackageDescription

/// Settings shared by every Kiln Swift target: the upcoming-feature set of the style reference, and warnings as
/// errors for our own code only (dependencies keep their own settings).
let kilnSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

// Kiln builds on Linux (every sandbox; the overlay one needs Linux's overlayfs, namespaces and cgroups, kept in
// `+Linux` files and `#if os(Linux)`) and is meant to build on FreeBSD for the pot sandbox (not verified: no
// FreeBSD machine here). It does not build on Apple platforms: the spawn code is Linux's (eventfd, vfork).
#if !os(Linux) && !os(FreeBSD)
    #error("Kiln builds on Linux (and is meant to on FreeBSD); see Package.swift")
#endif

// The parker runs inside sandboxes without the host's libraries, so it is linked statically; a sanitizer's runtime
// cannot be, so scripts/tsan (KILN_SANITIZER_BUILD=1) links it dynamically and points the tests at a normal build's.
let parkerLinking: [LinkerSetting] =
    Context.environment["KILN_SANITIZER_BUILD"] == nil ? [.unsafeFlags(["-static-executable"])] : []

let package = Package(
    name: "kiln",
    products: [
        .executable(name: "builder-server", targets: ["BuilderServer"]),
        .executable(name: "kiln-bench", targets: ["KilnBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // MARK: C libraries (the only targets that see C pointers are the wrappers right above them)
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShims", dependencies: ["CCurl"]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // A job's first process started with vfork+exec, joining its cgroups and rlimits before exec.
        .target(name: "CJobSpawn"),
        // A connection to the Docker engine kept open in both directions (an exec's streams handed over).
        .target(name: "CEngineStream"),
        // The program a job's first process runs while it waits for the job (static: it starts in 0.3 ms).
        .executableTarget(
            name: "kiln-job-parker", dependencies: ["CJobSpawn"], path: "Sources/JobParker",
            linkerSettings: parkerLinking),

        // MARK: I/O-free vocabulary
        .target(name: "KilnErrors", swiftSettings: kilnSettings),
        .target(name: "KilnProtocol", dependencies: ["KilnErrors"], swiftSettings: kilnSettings),
        // Optimized in debug builds too: the tests and end-to-end suites run debug servers, and the four-lane
        // hashing is six times slower there unoptimized than the scalar code was (toolchain uploads are hashed).
        .target(name: "BLAKE3", swiftSettings: kilnSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(
            name: "KilnAuth",
            dependencies: [
                "KilnProtocol", "KilnErrors",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: kilnSettings
        ),

        .target(name: "SchedulerCore", dependencies: ["KilnProtocol"], swiftSettings: kilnSettings),
        // Series definitions only (swift-metrics API): the executable bootstraps the Prometheus back end.
        .target(
            name: "KilnMetrics",
            dependencies: [
                "BuilderCore", "SchedulerCore", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: kilnSettings),
        .target(name: "BuilderCore", dependencies: ["KilnProtocol", "BLAKE3"], swiftSettings: kilnSettings),

        // MARK: C wrappers
        .target(
            name: "BlockingPool",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: kilnSettings),
        .target(name: "ArchiveKit", dependencies: ["CArchive", "CZlib", "CDeflate", "KilnErrors", "BLAKE3"], swiftSettings: kilnSettings),
        .target(name: "CurlClient", dependencies: ["CCurl", "CCurlShims", "BlockingPool", "KilnErrors"], swiftSettings: kilnSettings),
        .target(name: "RedisClient", dependencies: ["CHiredis", "BlockingPool", "KilnErrors"], swiftSettings: kilnSettings),
        .target(name: "WireStreams", dependencies: ["KilnProtocol", "ArchiveKit", "KilnErrors"], swiftSettings: kilnSettings),
        .target(name: "DockerEngine", dependencies: ["CurlClient", "CEngineStream", "BlockingPool", "KilnErrors"], swiftSettings: kilnSettings),
        .target(name: "JobSpawn", dependencies: ["CJobSpawn"], swiftSettings: kilnSettings),

        // MARK: build-server side effects: sandboxes (one file per backend) and the toolchain cache
        .target(
            name: "Sandboxing",
            dependencies: [
                "KilnProtocol", "KilnErrors", "BuilderCore", "ArchiveKit", "BlockingPool", "WireStreams", "DockerEngine", "JobSpawn",
            ],
            swiftSettings: kilnSettings
        ),
        .target(
            name: "ToolchainStore", dependencies: ["KilnProtocol", "KilnErrors", "BuilderCore", "ArchiveKit", "BlockingPool", "BLAKE3"],
            swiftSettings: kilnSettings
        ),
        // The Remote Execution API's blobs and action results on disk (REAPIService serves them).
        .target(
            name: "ContentStore",
            dependencies: ["KilnErrors", "BuilderCore", "BlockingPool", "ArchiveKit", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: kilnSettings),
        .target(
            name: "ResultCache",
            dependencies: ["KilnProtocol", "KilnErrors", "BuilderCore", "ArchiveKit", "BlockingPool", "BLAKE3", "RedisClient"],
            swiftSettings: kilnSettings),

        // MARK: configuration (the only module that imports TOMLKit)
        .target(
            name: "KilnConfiguration",
            dependencies: ["KilnProtocol", "KilnErrors", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: kilnSettings
        ),

        // MARK: services (the only modules that import Hummingbird)
        .target(
            name: "ServiceSupport",
            dependencies: [
                "KilnProtocol", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kilnSettings
        ),
        .target(
            name: "SchedulerService",
            dependencies: [
                "KilnProtocol", "KilnAuth", "KilnConfiguration", "SchedulerCore", "CurlClient", "ServiceSupport", "KilnMetrics", "BuilderCore",
                "ArchiveKit", "KilnErrors", "BlockingPool",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kilnSettings
        ),

        // The Remote Execution API's messages and gRPC stubs, generated by scripts/reapi-codegen (not our code).
        .target(
            name: "REAPIWire",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ]),
        .target(
            name: "REAPIService",
            dependencies: [
                "REAPIWire", "ContentStore", "KilnConfiguration", "KilnProtocol", "KilnErrors", "BlockingPool", "BuilderCore", "ArchiveKit",
                "WireStreams",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kilnSettings),
        .target(
            name: "BuilderService",
            dependencies: [
                "KilnProtocol", "KilnErrors", "KilnAuth", "KilnConfiguration", "BuilderCore", "SchedulerCore", "Sandboxing", "ToolchainStore",
                "ResultCache", "RedisClient", "WireStreams", "ArchiveKit", "CurlClient", "ServiceSupport", "KilnMetrics", "JobSpawn",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kilnSettings
        ),

        // MARK: the executable
        .executableTarget(
            name: "BuilderServer",
            dependencies: [
                "kiln-job-parker",  // built beside builder-server, which finds it there
                "KilnProtocol", "KilnAuth", "KilnConfiguration", "SchedulerService", "BuilderService", "KilnMetrics", "ServiceSupport",
                "REAPIService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: kilnSettings
        ),

        // MARK: benchmarks (scripts/bench/)
        .executableTarget(name: "KilnBench", dependencies: ["BLAKE3", "KilnProtocol"], swiftSettings: kilnSettings),

        // MARK: tests
        .target(
            name: "KilnTestSupport", dependencies: ["ArchiveKit", "BLAKE3", "KilnProtocol", "Sandboxing"], path: "Tests/KilnTestSupport",
            swiftSettings: kilnSettings),
        .testTarget(
            name: "KilnProtocolTests", dependencies: ["KilnProtocol", "WireStreams", "ArchiveKit", "KilnTestSupport"],
            swiftSettings: kilnSettings
        ),
        .testTarget(
            name: "BLAKE3Tests", dependencies: ["BLAKE3", "KilnProtocol", "KilnTestSupport"], exclude: ["Resources"],
            swiftSettings: kilnSettings
        ),
        .testTarget(
            name: "KilnAuthTests", dependencies: ["KilnAuth", "KilnProtocol", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: kilnSettings),
        .testTarget(
            name: "BuilderCoreTests", dependencies: ["BuilderCore", "KilnProtocol", "KilnTestSupport", "ArchiveKit", "BLAKE3"],
            swiftSettings: kilnSettings),
        .testTarget(
            name: "SandboxingTests",
            dependencies: [
                "Sandboxing", "BuilderCore", "DockerEngine", "ArchiveKit", "BLAKE3", "KilnErrors", "KilnProtocol", "WireStreams", "KilnTestSupport",
            ],
            swiftSettings: kilnSettings),
        .testTarget(
            name: "ResultCacheTests", dependencies: ["ResultCache", "RedisClient", "BuilderCore", "KilnProtocol", "KilnTestSupport"],
            swiftSettings: kilnSettings),
        .testTarget(
            name: "ToolchainStoreTests", dependencies: ["ToolchainStore", "BLAKE3", "KilnProtocol", "KilnTestSupport"], swiftSettings: kilnSettings),
        .testTarget(name: "SchedulerCoreTests", dependencies: ["SchedulerCore", "KilnProtocol", "KilnTestSupport"], swiftSettings: kilnSettings),
        .testTarget(
            name: "SchedulerServiceTests",
            dependencies: [
                "SchedulerService", "KilnConfiguration", "KilnProtocol", "CurlClient", "KilnTestSupport", "KilnMetrics", "ServiceSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: kilnSettings
        ),
        .testTarget(
            name: "BuilderServiceTests",
            dependencies: [
                "BuilderService", "BuilderCore", "KilnProtocol", "KilnAuth", "ArchiveKit", "BLAKE3", "Sandboxing", "ToolchainStore", "ServiceSupport",
                "WireStreams", "KilnTestSupport", "KilnMetrics", "SchedulerCore",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: kilnSettings),
        .testTarget(
            name: "EndToEndTests", dependencies: ["KilnTestSupport", "KilnProtocol", "ArchiveKit", "WireStreams"], swiftSettings: kilnSettings),
        .testTarget(name: "ContentStoreTests", dependencies: ["ContentStore", "KilnTestSupport"], swiftSettings: kilnSettings),
        .testTarget(
            name: "REAPIServiceTests",
            dependencies: [
                "REAPIService", "REAPIWire", "ContentStore", "KilnConfiguration", "KilnProtocol", "KilnTestSupport", "ArchiveKit", "WireStreams",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kilnSettings),
        .testTarget(name: "JobSpawnTests", dependencies: ["JobSpawn"], swiftSettings: kilnSettings),
        .testTarget(name: "ArchiveKitTests", dependencies: ["ArchiveKit", "KilnTestSupport"], swiftSettings: kilnSettings),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "KilnTestSupport"], swiftSettings: kilnSettings),
        .testTarget(name: "DockerEngineTests", dependencies: ["DockerEngine"], swiftSettings: kilnSettings),
        .testTarget(name: "CurlClientTests", dependencies: ["CurlClient", "KilnErrors", "KilnTestSupport"], swiftSettings: kilnSettings),
        .testTarget(
            name: "KilnConfigurationTests",
            dependencies: ["KilnConfiguration", "KilnProtocol", "KilnTestSupport"],
            swiftSettings: kilnSettings
        ),
    ]
)
