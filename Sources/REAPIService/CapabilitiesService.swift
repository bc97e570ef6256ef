import GRPCCore
import REAPIWire

/// What this server offers, as REAPI clients ask before anything else: SHA-256, batches up to
/// ``REAPILimits/maxBatchTotalBytes``, and execution only when builders can run actions.
struct CapabilitiesService: Build_Bazel_Remote_Execution_V2_Capabilities.SimpleServiceProtocol {
    let clientUpdates: Bool
    let executionEnabled: Bool

    func getCapabilities(
        request: Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest, context: ServerContext
    ) async throws
        -> Build_Bazel_Remote_Execution_V2_ServerCapabilities
    {
        var capabilities = Build_Bazel_Remote_Execution_V2_ServerCapabilities()
        capabilities.cacheCapabilities.digestFunction = [.sha256]
        capabilities.cacheCapabilities.actionCacheUpdateCapabilities.updateEnabled = clientUpdates
        capabilities.cacheCapabilities.maxBatchTotalSizeBytes = REAPILimits.maxBatchTotalBytes
        capabilities.cacheCapabilities.symlinkAbsolutePathStrategy = .disallowed
        capabilities.executionCapabilities.digestFunction = .sha256
        capabilities.executionCapabilities.execEnabled = executionEnabled
        capabilities.lowApiVersion = Self.version(2, 0)
        capabilities.highApiVersion = Self.version(2, 0)
        return capabilities
    }

    private static func version(_ major: Int32, _ minor: Int32) -> Build_Bazel_Semver_SemVer {
        var version = Build_Bazel_Semver_SemVer()
        version.major = major
        version.minor = minor
        return version
    }
}

/// The bounds of one request.
enum REAPILimits {
    /// The most bytes of blobs one batch request or response carries; kept under gRPC's usual 4 MiB message with
    /// room for the message around them.
    static let maxBatchTotalBytes: Int64 = 4_000_000
    /// The largest message the server reads: a full batch and its framing, with margin for clients that round up.
    static let maxRequestBytes = 8 << 20
}
