/// Splits the multiplexed stream of a non-TTY exec (`application/vnd.docker.raw-stream`): frames of an 8-byte
/// header (stream 1 = stdout, 2 = stderr; three zero bytes; big-endian u32 length) followed by the payload.
/// Pure: fed whole answers, tested without an engine.
public enum ExecStreamDemultiplexer {
    /// stdout and stderr, each cut at `limit` bytes, and whether anything was cut.
    public struct Streams: Sendable, Hashable {
        public var stdout: [UInt8] = []
        public var stderr: [UInt8] = []
        public var truncated = false
        public init() {}
    }

    /// Throws ``DockerEngineError`` (`malformed`) on a bad header or a frame that ends early.
    public static func split(_ bytes: [UInt8], limit: Int) throws -> Streams {
        var streams = Streams()
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else {
                throw DockerEngineError(.malformed, "the exec stream ends inside a frame header")
            }
            let kind = bytes[offset]
            let length = bytes[offset + 4..<offset + 8].reduce(0) { $0 << 8 | Int($1) }
            let start = offset + 8
            guard bytes.count - start >= length else {
                throw DockerEngineError(.malformed, "the exec stream ends inside a frame of \(length) bytes")
            }
            let payload = bytes[start..<start + length]
            switch kind {
            case 0, 1: append(payload, to: &streams.stdout, limit: limit, truncated: &streams.truncated)
            case 2: append(payload, to: &streams.stderr, limit: limit, truncated: &streams.truncated)
            default: throw DockerEngineError(.malformed, "the exec stream has a frame for unknown stream \(kind)")
            }
            offset = start + length
        }
        return streams
    }

    private static func append(_ payload: ArraySlice<UInt8>, to stream: inout [UInt8], limit: Int, truncated: inout Bool) {
        let room = max(limit - stream.count, 0)
        if payload.count > room { truncated = true }
        stream.append(contentsOf: payload.prefix(room))
    }
}
