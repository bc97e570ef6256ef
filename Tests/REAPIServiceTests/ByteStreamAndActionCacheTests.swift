import ContentStore
import Foundation
import GRPCCore
import KilnTestSupport
import REAPIWire
import Testing

@Suite struct ByteStreamAndActionCacheTests {
    typealias ByteStream = Google_Bytestream_ByteStream

    /// Writes `bytes` as `digest` in pieces of 256 KiB, as Bazel's uploader does.
    static func write(
        _ bytes: [UInt8], as digest: Digest, to client: ByteStream.Client<some ClientTransport>, offsetSkew: Int64 = 0
    )
        async throws -> Int64
    {
        try await client.write { writer in
            var offset = 0
            repeat {
                var message = Google_Bytestream_WriteRequest()
                if offset == 0 { message.resourceName = "main/uploads/\(UUID().uuidString)/blobs/\(digest.hash)/\(digest.sizeBytes)" }
                let end = min(bytes.count, offset + (256 << 10))
                message.writeOffset = Int64(offset) + offsetSkew
                message.data = Data(bytes[offset..<end])
                message.finishWrite = end == bytes.count
                try await writer.write(message)
                offset = end
            } while offset < bytes.count
        }.committedSize
    }

    static func read(
        _ digest: Digest, offset: Int64 = 0, limit: Int64 = 0, from client: ByteStream.Client<some ClientTransport>
    ) async throws
        -> [UInt8]
    {
        var request = Google_Bytestream_ReadRequest()
        request.resourceName = "main/blobs/\(digest.hash)/\(digest.sizeBytes)"
        request.readOffset = offset
        request.readLimit = limit
        return try await client.read(request) { response in
            var bytes: [UInt8] = []
            for try await message in response.messages { bytes += message.data }
            return bytes
        }
    }

    /// A blob larger than a batch goes in and out through ByteStream; a write whose bytes do not match its name,
    /// or that skips ahead, is refused and leaves nothing.
    @Test func largeBlobsStreamInAndOutChecked() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let blob = REAPIHarness.payload(7, count: 5 << 20)
        let digest = REAPIHarness.digest(blob)
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory)) { client async throws in
            let stream = ByteStream.Client(wrapping: client)
            await #expect(throws: RPCError.self) { try await Self.read(digest, from: stream) }
            var forged = blob
            forged[4_000_000] ^= 0xFF
            await #expect(throws: RPCError.self) { try await Self.write(forged, as: digest, to: stream) }
            await #expect(throws: RPCError.self) { try await Self.write(blob, as: digest, to: stream, offsetSkew: 1) }
            var status = Google_Bytestream_QueryWriteStatusRequest()
            status.resourceName = "uploads/1/blobs/\(digest.hash)/\(digest.sizeBytes)"
            await #expect(throws: RPCError.self, "no write of it is held") { try await stream.queryWriteStatus(status) }

            #expect(try await Self.write(blob, as: digest, to: stream) == Int64(blob.count))
            #expect(try await stream.queryWriteStatus(status).complete)
            #expect(try await Self.read(digest, from: stream) == blob)
            #expect(try await Self.read(digest, offset: 3_000_000, limit: 10, from: stream) == Array(blob[3_000_000..<3_000_010]))
            #expect(try await Self.read(digest, offset: Int64(blob.count), from: stream) == [])
            await #expect(throws: RPCError.self) { try await Self.read(digest, offset: Int64(blob.count) + 1, from: stream) }
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/cas/.incoming")
        #expect(leftovers.isEmpty, "refused writes leave nothing behind")
    }

    /// An action result is served while every blob it names is in the CAS; without them the client hears
    /// NOT_FOUND (and runs the action) instead of failing to fetch an output.
    @Test func actionResultsAreServedOnlyWithTheirOutputs() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let output = Array("the object file".utf8)
        let stdout = Array("compiler chatter".utf8)
        let action = REAPIHarness.digest(Array("an action".utf8))
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        var file = Build_Bazel_Remote_Execution_V2_OutputFile()
        file.path = "out/main.o"
        file.digest = REAPIHarness.digest(output)
        result.outputFiles = [file]
        result.stdoutDigest = REAPIHarness.digest(stdout)
        result.exitCode = 0
        var update = Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest()
        update.actionDigest = action
        update.actionResult = result
        var getting = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
        getting.actionDigest = action
        let (get, updating, expected) = (getting, update, result)

        try await REAPIHarness.withServer(REAPIHarness.configuration(directory)) { client async throws in
            let cache = ActionCache.Client(wrapping: client)
            await #expect(throws: RPCError.self) { try await cache.getActionResult(get) }
            _ = try await cache.updateActionResult(updating)
            let error = await #expect(throws: RPCError.self) { try await cache.getActionResult(get) }
            #expect(error?.code == .notFound, "its outputs are not in the CAS yet")
            try await REAPIHarness.upload([output, stdout], to: client)
            #expect(try await cache.getActionResult(get) == expected)
        }
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory, clientUpdates: false)) { client async throws in
            let cache = ActionCache.Client(wrapping: client)
            #expect(try await cache.getActionResult(get) == expected, "kept across a restart")
            let error = await #expect(throws: RPCError.self) { try await cache.updateActionResult(updating) }
            #expect(error?.code == .permissionDenied)
        }
    }
}
