import BlockingPool
import ContentStore
import Foundation
import GRPCCore
import REAPIWire

/// Google's ByteStream over the CAS, for blobs too large for a batch: reads in pieces of at most 1 MiB, writes
/// streamed to disk and checked against their digest before they are stored.
struct ByteStreamService: Google_Bytestream_ByteStream.SimpleServiceProtocol {
    let cas: DiskBlobStore
    static let readPiece = 1 << 20

    func read(request: Google_Bytestream_ReadRequest, response: RPCWriter<Google_Bytestream_ReadResponse>, context: ServerContext) async throws {
        guard let resource = ByteStreamResource(request.resourceName, as: .read) else {
            throw RPCError(code: .invalidArgument, message: "'\(request.resourceName.prefix(200))' is not a resource {instance}/blobs/{hash}/{size}")
        }
        guard request.readOffset >= 0, request.readLimit >= 0 else {
            throw RPCError(code: .outOfRange, message: "read_offset and read_limit must not be negative")
        }
        guard let file = try await cas.open(resource.digest) else {
            throw RPCError(code: .notFound, message: "\(resource.digest) is not in the CAS")
        }
        guard request.readOffset <= file.size else {
            throw RPCError(code: .outOfRange, message: "read_offset \(request.readOffset) is past the blob's end (\(file.size) bytes)")
        }
        var offset = Int(request.readOffset)
        let end = request.readLimit == 0 ? file.size : min(file.size, offset + Int(request.readLimit))
        repeat {
            let count = min(Self.readPiece, end - offset)
            let start = offset
            let piece = try await BlockingWork.run { try file.read(offset: start, count: count) }
            var message = Google_Bytestream_ReadResponse()
            message.data = Data(piece)
            try await response.write(message)
            offset += piece.count
        } while offset < end
    }

    func write(
        request: RPCAsyncSequence<Google_Bytestream_WriteRequest, any Error>, context: ServerContext
    ) async throws
        -> Google_Bytestream_WriteResponse
    {
        var resource: ByteStreamResource?
        let upload = try await cas.beginUpload()
        var finished = false
        for try await message in request {
            guard !finished else { throw RPCError(code: .invalidArgument, message: "a write went on after finish_write") }
            if resource == nil {
                guard let named = ByteStreamResource(message.resourceName, as: .upload) else {
                    throw RPCError(
                        code: .invalidArgument,
                        message: "'\(message.resourceName.prefix(200))' is not a resource {instance}/uploads/{uuid}/blobs/{hash}/{size}")
                }
                resource = named
            }
            guard message.writeOffset == Int64(upload.size) else {
                throw RPCError(code: .invalidArgument, message: "write_offset \(message.writeOffset) is not the \(upload.size) bytes written so far")
            }
            try message.data.withUnsafeBytes { try upload.write($0) }
            guard upload.size <= resource!.digest.sizeBytes else {
                throw RPCError(code: .invalidArgument, message: "more bytes came than the \(resource!.digest.sizeBytes) of \(resource!.digest)")
            }
            finished = message.finishWrite
        }
        guard let resource, finished else {
            throw RPCError(code: .invalidArgument, message: "the write ended without finish_write; write the whole blob again")
        }
        try await cas.commit(try upload.finish(), as: resource.digest)
        var response = Google_Bytestream_WriteResponse()
        response.committedSize = resource.digest.sizeBytes
        return response
    }

    /// Unfinished writes are not kept, so a write is either complete (the blob is held) or unknown (`NOT_FOUND`:
    /// the client starts over at 0).
    func queryWriteStatus(
        request: Google_Bytestream_QueryWriteStatusRequest, context: ServerContext
    ) async throws
        -> Google_Bytestream_QueryWriteStatusResponse
    {
        guard let resource = ByteStreamResource(request.resourceName, as: .upload) else {
            throw RPCError(code: .invalidArgument, message: "'\(request.resourceName.prefix(200))' is not an upload resource")
        }
        guard await cas.missing([resource.digest]).isEmpty else {
            throw RPCError(code: .notFound, message: "no write of \(resource.digest) is under way or done; write it from offset 0")
        }
        var response = Google_Bytestream_QueryWriteStatusResponse()
        response.committedSize = resource.digest.sizeBytes
        response.complete = true
        return response
    }
}
