import CZlib
import KilnErrors

/// A streaming zlib (RFC 1950) decompressor with an output bound, for `run_job` input streams.
public final class ZlibInflater {
    private var stream = z_stream()
    private var open = false
    /// True once the zlib stream's end (with its checksum) has been read.
    public private(set) var isFinished = false
    /// Decompressed bytes produced so far.
    public private(set) var totalOut: UInt64 = 0
    private let maxOutput: UInt64

    /// - Parameter maxOutput: the most bytes the stream may inflate to; more is ``ArchiveError/Code/limitExceeded``.
    public init(maxOutput: UInt64) throws {
        self.maxOutput = maxOutput
        guard CZlib_inflateInit(&stream) == Z_OK else {
            throw ArchiveError(.io, "zlib could not start a decompressor", cause: "inflateInit failed")
        }
        open = true
    }

    deinit { if open { inflateEnd(&stream) } }

    /// Inflates `input` and hands each piece of output to `sink`. Bytes after the stream's end are ignored.
    public func inflate(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try inflate(input, chunk: ZlibDeflate.largestChunk, into: sink)
    }

    /// zlib counts in 32 bits: `input` goes in pieces of at most `chunk` bytes.
    func inflate(_ input: UnsafeRawBufferPointer, chunk: Int, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !isFinished, let base = input.baseAddress, input.count > 0 else { return }
        var output = [UInt8](repeating: 0, count: 64 * 1024)
        var offset = 0
        while offset < input.count && !isFinished {
            let take = min(chunk, input.count - offset)
            stream.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(take)
            offset += take
            guard try inflateAvailable(&output, into: sink) else { return }
        }
    }

    /// Inflates what `stream` holds; false once nothing more can come of the input (its end, or zlib wants more).
    private func inflateAvailable(_ output: inout [UInt8], into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        repeat {
            let (status, produced) = output.withUnsafeMutableBytes { raw -> (Int32, Int) in
                stream.next_out = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(raw.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (status, raw.count - Int(stream.avail_out))
            }
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                let detail = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                throw ArchiveError(.corrupt, "the zlib stream is damaged; resend the request", cause: detail)
            }
            totalOut += UInt64(produced)
            guard totalOut <= maxOutput else {
                throw ArchiveError(.limitExceeded, "the zlib stream inflates past \(maxOutput) bytes")
            }
            if produced > 0 { try output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            if status == Z_STREAM_END {
                isFinished = true
                return false
            }
            if status == Z_BUF_ERROR && produced == 0 { return stream.avail_in == 0 }
        } while stream.avail_in > 0 || stream.avail_out == 0
        return true
    }
}

/// One-shot zlib (RFC 1950) compression, for `OutputData`.
public enum ZlibDeflate {
    /// zlib's counters are 32 bits wide: larger buffers go through it in pieces of this size.
    static let largestChunk = 1 << 30

    /// Compresses `bytes` at `level` (1 = fast, what sccache uses), of any size.
    public static func compress(_ bytes: [UInt8], level: Int32 = 1) throws -> [UInt8] {
        try compress(bytes, level: level, chunk: largestChunk)
    }

    static func compress(_ bytes: [UInt8], level: Int32, chunk: Int) throws -> [UInt8] {
        let deflater = try ZlibDeflater(level: level, chunk: chunk)
        try bytes.withUnsafeBytes { try deflater.add($0) }
        return try deflater.finish()
    }

    /// Inflates a whole zlib stream (tests and clients); refuses more than `maxOutput` bytes.
    public static func decompress(_ bytes: [UInt8], maxOutput: UInt64) throws -> [UInt8] {
        let inflater = try ZlibInflater(maxOutput: maxOutput)
        var result = [UInt8]()
        try bytes.withUnsafeBytes { try inflater.inflate($0) { result.append(contentsOf: $0) } }
        guard inflater.isFinished else { throw ArchiveError(.corrupt, "the zlib stream ends early") }
        return result
    }
}

/// A streaming zlib (RFC 1950) compressor: a file is compressed as it is read, so its raw bytes are never whole in
/// memory (an output of a gigabyte costs its compressed size, not a gigabyte more).
public final class ZlibDeflater {
    private var stream = z_stream()
    private var output: [UInt8] = []
    private var window = [UInt8](repeating: 0, count: 1 << 16)
    private let chunk: Int
    private var finished = false

    /// - Parameter level: 1 is fast, what sccache uses.
    public convenience init(level: Int32 = 1) throws { try self.init(level: level, chunk: ZlibDeflate.largestChunk) }

    init(level: Int32, chunk: Int) throws {
        self.chunk = chunk
        guard CZlib_deflateInit(&stream, level) == Z_OK else { throw ArchiveError(.io, "zlib could not start a compressor") }
    }

    deinit { deflateEnd(&stream) }

    /// Compresses `input` (of any size: zlib takes it in pieces its 32-bit counters can count).
    public func add(_ input: UnsafeRawBufferPointer) throws {
        guard !finished else { throw ArchiveError(.io, "the compressor has finished") }
        var offset = 0
        while offset < input.count {
            let take = min(chunk, input.count - offset)
            stream.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: ($0 + offset).assumingMemoryBound(to: Bytef.self)) }
            stream.avail_in = uInt(take)
            offset += take
            try run(Z_NO_FLUSH)
        }
    }

    /// Ends the stream and returns everything compressed.
    public func finish() throws -> [UInt8] {
        guard !finished else { throw ArchiveError(.io, "the compressor has finished") }
        stream.next_in = nil
        stream.avail_in = 0
        try run(Z_FINISH)
        finished = true
        defer { output = [] }
        return output
    }

    /// Runs deflate until it has taken all its input (or, finishing, written the stream's end).
    private func run(_ flush: Int32) throws {
        var status = Z_OK
        repeat {
            let produced = window.withUnsafeMutableBytes { out -> Int in
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                status = deflate(&stream, flush)
                return out.count - Int(stream.avail_out)
            }
            output.append(contentsOf: window[0..<produced])
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw ArchiveError(.io, "zlib compression failed", cause: "status \(status)")
            }
        } while flush == Z_FINISH ? status != Z_STREAM_END : (stream.avail_out == 0 || stream.avail_in > 0)
    }
}
