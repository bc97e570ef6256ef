import ContentStore
import Foundation
import GRPCCore
import KilnConfiguration
import KilnTestSupport
import REAPIService
import REAPIWire
import SwiftProtobuf
import Testing

@Suite struct ContentStorageServiceTests {
    @Test func capabilitiesOfferSHA256AndTheBatchBound() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let capabilities = try await REAPIHarness.withServer(REAPIHarness.configuration(directory, clientUpdates: false)) { client async throws in
            try await Build_Bazel_Remote_Execution_V2_Capabilities.Client(wrapping: client).getCapabilities(.init())
        }
        #expect(capabilities.cacheCapabilities.digestFunction == [.sha256])
        #expect(capabilities.cacheCapabilities.maxBatchTotalSizeBytes == 4_000_000)
        #expect(!capabilities.cacheCapabilities.actionCacheUpdateCapabilities.updateEnabled)
        #expect(!capabilities.executionCapabilities.execEnabled, "no execution is offered before builders run actions")
        #expect(capabilities.lowApiVersion.major == 2 && capabilities.highApiVersion.major == 2)
    }

    /// Blobs go in and out by batch; each blob of a batch stands alone, and bytes that do not match their digest
    /// are refused and stored under no name.
    @Test func batchesStoreOnlyMatchingBytesAndReadThemBack() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let good = REAPIHarness.payload(1, count: 100_000)
        let forged = REAPIHarness.payload(2, count: 100_000)
        let absent = REAPIHarness.payload(3, count: 10)
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory)) { client async throws in
            let cas = CAS.Client(wrapping: client)
            var find = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
            find.blobDigests = [REAPIHarness.digest(good), REAPIHarness.digest([])]
            #expect(try await cas.findMissingBlobs(find).missingBlobDigests == [REAPIHarness.digest(good)])

            var update = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
            var first = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
            first.digest = REAPIHarness.digest(good)
            first.data = Data(good)
            var second = first
            second.digest = REAPIHarness.digest(absent)
            second.data = Data(forged)
            update.requests = [first, second]
            let statuses = try await cas.batchUpdateBlobs(update).responses.map(\.status.code)
            #expect(statuses == [0, Int32(RPCError.Code.invalidArgument.rawValue)])

            #expect(try await cas.findMissingBlobs(find).missingBlobDigests.isEmpty)
            var read = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
            read.digests = [REAPIHarness.digest(good), REAPIHarness.digest(absent), REAPIHarness.digest([])]
            let answers = try await cas.batchReadBlobs(read).responses
            #expect(answers.map(\.status.code) == [0, Int32(RPCError.Code.notFound.rawValue), 0])
            #expect(answers.first?.data == Data(good))
            #expect(answers.last?.data.isEmpty == true)

            var malformed = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
            var bad = Digest()
            bad.hash = "../../etc/passwd"
            malformed.blobDigests = [bad]
            await #expect(throws: RPCError.self) { try await cas.findMissingBlobs(malformed) }
        }
        // A new server on the same directory (a restart) still holds the blob.
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory)) { client async throws in
            var find = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
            find.blobDigests = [REAPIHarness.digest(good), REAPIHarness.digest(forged)]
            #expect(try await CAS.Client(wrapping: client).findMissingBlobs(find).missingBlobDigests == [REAPIHarness.digest(forged)])
        }
    }

    /// GetTree walks Directory messages breadth first, in pages that the page token continues.
    @Test func getTreeListsEveryDirectoryInPages() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        func message(_ directory: Build_Bazel_Remote_Execution_V2_Directory) throws -> [UInt8] { try directory.serializedBytes() }
        func node(_ name: String, _ bytes: [UInt8]) -> Build_Bazel_Remote_Execution_V2_DirectoryNode {
            var node = Build_Bazel_Remote_Execution_V2_DirectoryNode()
            node.name = name
            node.digest = REAPIHarness.digest(bytes)
            return node
        }
        var leaf = Build_Bazel_Remote_Execution_V2_Directory()
        var file = Build_Bazel_Remote_Execution_V2_FileNode()
        file.name = "main.c"
        file.digest = REAPIHarness.digest(Array("int main(void){return 0;}\n".utf8))
        leaf.files = [file]
        let leafBytes = try message(leaf)
        var middle = Build_Bazel_Remote_Execution_V2_Directory()
        middle.directories = [node("src", leafBytes), node("also", leafBytes)]
        let middleBytes = try message(middle)
        var root = Build_Bazel_Remote_Execution_V2_Directory()
        root.directories = [node("a", middleBytes), node("b", leafBytes)]
        let rootBytes = try message(root)

        let pages = try await REAPIHarness.withServer(REAPIHarness.configuration(directory)) { client async throws in
            try await REAPIHarness.upload([rootBytes, middleBytes, leafBytes], to: client)
            var request = Build_Bazel_Remote_Execution_V2_GetTreeRequest()
            request.rootDigest = REAPIHarness.digest(rootBytes)
            request.pageSize = 2
            return try await CAS.Client(wrapping: client).getTree(request) { response in
                var pages: [Build_Bazel_Remote_Execution_V2_GetTreeResponse] = []
                for try await page in response.messages { pages.append(page) }
                return pages
            }
        }
        #expect(pages.flatMap(\.directories) == [root, middle, leaf], "each distinct directory once, breadth first")
        #expect(pages.map(\.directories.count) == [2, 1])
        #expect(pages.map(\.nextPageToken) == ["2", ""])
    }
}

@Suite struct REAPITLSTests {
    /// With `tls_cert_file` and `tls_key_file` the endpoint speaks TLS only: a client that trusts the certificate
    /// gets answers, a plaintext one does not.
    @Test func theEndpointServesTLSWhenConfigured() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let (certificate, key) = (directory.path + "/reapi.pem", directory.path + "/reapi.key")
        let made = try runToCompletion(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", certificate,
            ])
        try #require(made.status == 0, "\(made.output)")
        var configuration = REAPIHarness.configuration(directory)
        configuration.tls = REAPIConfiguration.TLSFiles(certificateFile: certificate, keyFile: key)
        let capabilities = try await REAPIHarness.withServer(configuration, trusting: certificate) { client async throws in
            try await Build_Bazel_Remote_Execution_V2_Capabilities.Client(wrapping: client).getCapabilities(.init())
        }
        #expect(capabilities.cacheCapabilities.digestFunction == [.sha256])
        await #expect(throws: RPCError.self, "a plaintext client is not answered") {
            try await REAPIHarness.withServer(configuration) { client async throws in
                var options = CallOptions.defaults
                options.timeout = .seconds(5)
                return try await Build_Bazel_Remote_Execution_V2_Capabilities.Client(wrapping: client).getCapabilities(.init(), options: options)
            }
        }
    }

    /// With the scheduler's client_auth, a call is answered only with its bearer token: without it, or with
    /// another, the client hears UNAUTHENTICATED and no handler runs.
    @Test func callsNeedTheBearerTokenWhenTheSchedulerAsksForOne() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let admit: @Sendable (String?) async -> REAPIAdmission = { $0 == "Bearer s3cret" ? .accepted : .refused("Fixed token mismatch") }
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory), admit: admit) { client async throws in
            let capabilities = Build_Bazel_Remote_Execution_V2_Capabilities.Client(wrapping: client)
            let answer = try await capabilities.getCapabilities(.init(), metadata: ["authorization": "Bearer s3cret"])
            #expect(answer.cacheCapabilities.digestFunction == [.sha256])
            for metadata: Metadata in [[:], ["authorization": "Bearer guess"], ["authorization": "s3cret"]] {
                let refused = await #expect(throws: RPCError.self) { try await capabilities.getCapabilities(.init(), metadata: metadata) }
                #expect(refused?.code == .unauthenticated)
            }
            var find = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
            find.blobDigests = [REAPIHarness.digest([1, 2, 3])]
            let write = await #expect(throws: RPCError.self) { try await CAS.Client(wrapping: client).findMissingBlobs(find) }
            #expect(write?.code == .unauthenticated, "every service, not only the first")
        }
    }
}
