import ContentStore
import GRPCCore
import REAPIWire

typealias Digest = Build_Bazel_Remote_Execution_V2_Digest

extension Digest {
    /// The store's digest of a wire digest; a malformed one is the client's error (`INVALID_ARGUMENT`).
    func checked() throws(ContentStoreError) -> BlobDigest { try BlobDigest(hash: hash, sizeBytes: sizeBytes) }

    init(_ digest: BlobDigest) {
        self.init()
        hash = digest.hash
        sizeBytes = digest.sizeBytes
    }
}

/// What a REAPI client is told of a store's error: its own mistakes as `INVALID_ARGUMENT` (it must not retry them
/// unchanged), the server's as retryable codes.
extension ContentStoreError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch code {
        case .digestMismatch, .badDigest: .invalidArgument
        case .tooLarge: .resourceExhausted
        default: .internalError
        }
    }

    public var rpcErrorMessage: String { message }
}

extension Google_Rpc_Status {
    static let ok = Google_Rpc_Status()

    /// The status of one blob of a batch: the error's gRPC code and message.
    init(_ error: any Error) {
        self.init()
        let rpc = (error as? any RPCErrorConvertible).map { RPCError($0) } ?? RPCError(code: .internalError, message: "\(error)")
        code = Int32(rpc.code.rawValue)
        message = rpc.message
    }

    init(code: RPCError.Code, message: String) {
        self.init()
        self.code = Int32(code.rawValue)
        self.message = message
    }
}
