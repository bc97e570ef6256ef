import ContentStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KilnConfiguration
import KilnProtocol
import KilnTestSupport
import Logging
import REAPIService
import REAPIWire
import SwiftProtobuf

typealias Digest = Build_Bazel_Remote_Execution_V2_Digest
typealias CAS = Build_Bazel_Remote_Execution_V2_ContentAddressableStorage
typealias ActionCache = Build_Bazel_Remote_Execution_V2_ActionCache

/// A real REAPI endpoint on a loopback port, with its stores in a temporary directory, and a gRPC client of it.
enum REAPIHarness {
    static func configuration(_ directory: TemporaryDirectory, clientUpdates: Bool = true) -> REAPIConfiguration {
        var configuration = REAPIConfiguration(listen: ServerID("127.0.0.1:0")!, directory: directory.path)
        configuration.casSizeBytes = 64 << 20
        configuration.clientUpdates = clientUpdates
        return configuration
    }

    /// Runs `body` with a client of a server on `configuration`; the server stops when it returns. `trusting`: the
    /// PEM certificate the client trusts, connecting with TLS; nil: plaintext.
    static func withServer<T: Sendable>(
        _ configuration: REAPIConfiguration, runJob: FarmJobRunner? = nil, trusting certificate: String? = nil,
        admit: (@Sendable (String?) async -> REAPIAdmission)? = nil,
        _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let server = try REAPIServer(configuration: configuration, logger: Logger(label: "reapi-test"), admit: admit, runJob: runJob)
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        var port: Int?
        for _ in 0..<500 where port == nil {
            port = await server.listeningPort
            if port == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let security: HTTP2ClientTransport.Posix.TransportSecurity =
            certificate.map { path in .tls { $0.trustRoots = .certificates([.file(path: path, format: .pem)]) } } ?? .plaintext
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: try requirePort(port)), transportSecurity: security)
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    static func digest(_ bytes: [UInt8]) -> Digest {
        let digest = BlobDigest.of(bytes)
        var wire = Digest()
        wire.hash = digest.hash
        wire.sizeBytes = digest.sizeBytes
        return wire
    }

    static func payload(_ seed: UInt8, count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 9) ^ seed } }

    static func message(_ message: some SwiftProtobuf.Message) throws -> [UInt8] { try message.serializedBytes() }

    static func upload(_ blobs: [[UInt8]], to client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
        var request = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
        request.requests = blobs.map { blob in
            var entry = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
            entry.digest = digest(blob)
            entry.data = Data(blob)
            return entry
        }
        let response = try await CAS.Client(wrapping: client).batchUpdateBlobs(request)
        guard response.responses.allSatisfy({ $0.status.code == 0 }) else { throw RPCError(code: .internalError, message: "upload refused") }
    }
}

private func requirePort(_ port: Int?) throws -> Int {
    guard let port else { throw RPCError(code: .unavailable, message: "the REAPI server did not listen") }
    return port
}
