import ArchiveKit
import KilnProtocol

/// Reads a `run_job` request body as it arrives (protocol §4.1): a u32 **big-endian** length N, N bytes of bincode
/// `RunJobHttpRequest`, then a zlib stream of an uncompressed tar holding the inputs.
///
/// Feed chunks of any size to ``consume(_:tarSink:)``: it returns the request once its header is complete and
/// passes inflated tar bytes to the sink as they come, so the body is never whole in memory.
public final class RunJobBodyReader {
    private enum State {
        case prefix
        case header(length: Int)
        case payload
    }

    private var state = State.prefix
    private var pending: [UInt8] = []
    private let inflater: ZlibInflater
    private let maxHeaderBytes: Int
    /// Body bytes taken so far.
    public private(set) var bytesConsumed: UInt64 = 0

    /// - Parameters:
    ///   - maxHeaderBytes: the largest bincode header accepted (the client's whole environment is in it).
    ///   - maxInputBytes: the most bytes the inputs tar may inflate to.
    public init(maxHeaderBytes: Int = 16 << 20, maxInputBytes: UInt64) throws {
        self.maxHeaderBytes = maxHeaderBytes
        inflater = try ZlibInflater(maxOutput: maxInputBytes)
    }

    /// Takes the next chunk of the body. Returns the decoded request when this chunk completes the header.
    public func consume(
        _ chunk: UnsafeRawBufferPointer, tarSink: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> RunJobHttpRequest? {
        bytesConsumed += UInt64(chunk.count)
        var rest = chunk[...]
        var request: RunJobHttpRequest?
        while !rest.isEmpty {
            switch state {
            case .prefix:
                let take = min(4 - pending.count, rest.count)
                pending.append(contentsOf: rest.prefix(take))
                rest = rest.dropFirst(take)
                if pending.count == 4 {
                    let length = pending.reduce(0) { ($0 << 8) | Int($1) }
                    guard length <= maxHeaderBytes else {
                        throw WireStreamError(.headerTooLarge, "the bincode header claims \(length) bytes; at most \(maxHeaderBytes) are accepted")
                    }
                    pending = []
                    state = .header(length: length)
                }
            case .header(let length):
                let take = min(length - pending.count, rest.count)
                pending.append(contentsOf: rest.prefix(take))
                rest = rest.dropFirst(take)
                if pending.count == length {
                    do {
                        request = try BincodeDecoder().decode(RunJobHttpRequest.self, from: pending)
                    } catch {
                        throw WireStreamError(.badHeader, "the RunJobHttpRequest does not decode", underlying: error)
                    }
                    pending = []
                    state = .payload
                }
            case .payload:
                do {
                    try inflater.inflate(UnsafeRawBufferPointer(rebasing: rest), into: tarSink)
                } catch let error as ArchiveError {
                    throw WireStreamError(.badPayload, error.message, underlying: error)
                }
                rest = rest.dropFirst(rest.count)
            }
        }
        if case .header(0) = state {  // an empty header cannot decode; say so now rather than at the end
            throw WireStreamError(.badHeader, "the bincode header is empty")
        }
        return request
    }

    /// Call at the end of the body: throws unless the header and the whole zlib stream have arrived.
    public func finish() throws {
        guard case .payload = state else {
            throw WireStreamError(.truncated, "the body ended inside its frame after \(bytesConsumed) bytes")
        }
        guard inflater.isFinished else {
            throw WireStreamError(.truncated, "the zlib stream of inputs ends early")
        }
    }
}
