import BlockingPool
import CEngineStream
import CurlClient
import Foundation

extension DockerEngineClient {
    /// Creates an exec with stdin attached and starts it on a connection of its own, then reads `greeting` from its
    /// stdout: the process has started and waits for its input. Blocking socket work runs on ``BlockingWork``.
    public func startAttached(container: String, _ config: ExecConfig, greeting: [UInt8], timeout: Int = 30) async throws -> AttachedExec {
        var config = config
        config.attachStdin = true
        let created = try await call(.post, "/containers/\(container)/exec", json: try JSONEncoder().encode(config), timeout: timeout)
        let id = try decode(IdentifiedObject.self, from: created).id
        let body = #"{"Detach":false,"Tty":false}"#
        let request =
            "POST /v1.41/exec/\(id)/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\n"
            + "Upgrade: tcp\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let milliseconds = Int32(clamping: timeout * 1000)
        let descriptor = try await BlockingWork.run { [socketPath] in
            var status: Int32 = 0
            let fd = Array(request.utf8).withUnsafeBytes { kiln_stream_open(socketPath, $0.baseAddress!, $0.count, milliseconds, &status) }
            guard fd >= 0 else { throw Self.streamError(-fd, "starting exec \(id)") }
            // The frame of the greeting: stdout (1), three zero bytes, its big-endian length, then the bytes.
            let frame = [1, 0, 0, 0] + withUnsafeBytes(of: UInt32(greeting.count).bigEndian, Array.init) + greeting
            var read = [UInt8](repeating: 0, count: frame.count)
            let got = read.withUnsafeMutableBytes { kiln_stream_read_exact(fd, $0.baseAddress!, $0.count, milliseconds) }
            guard (status == 101 || status == 200), got == 0, read == frame else {
                kiln_stream_close(fd)
                throw DockerEngineError(
                    .refused, "exec \(id) did not start as expected (HTTP \(status))", underlying: got < 0 ? Self.streamError(-got, "reading") : nil)
            }
            return fd
        }
        return AttachedExec(id: id, descriptor: descriptor)
    }

    /// Sends `input` to an exec started ahead, reads its output until it ends, and inspects its exit code, as
    /// ``exec(container:_:timeout:streamLimit:)`` does for an exec started now. The process writes
    /// `acknowledgement` to stdout once it has its input (it is not part of the result): a stream without it is a
    /// ``DockerEngineError/Code/notStarted``. A ``DockerEngineError/Code/timeout`` leaves the process running; the
    /// caller kills it.
    public func finish(
        _ exec: AttachedExec, input: [UInt8], acknowledgement: UInt8, timeout: Int, streamLimit: Int
    ) async throws
        -> ExecResult
    {
        guard let fd = exec.take() else { throw DockerEngineError(.malformed, "exec \(exec.id) was used already") }
        let limit = 3 * streamLimit + (1 << 20)
        let raw = try await BlockingWork.run { [id = exec.id] in
            defer { kiln_stream_close(fd) }
            var received = kiln_stream_bytes()
            var end = kiln_stream_end()
            input.withUnsafeBytes { kiln_stream_exchange(fd, $0.baseAddress!, $0.count, Int32(clamping: timeout * 1000), limit, &received, &end) }
            defer { free(received.bytes) }
            switch end.outcome {
            case 0: return received.bytes.map { Array(UnsafeBufferPointer(start: $0, count: received.count)) } ?? []
            case 1: throw DockerEngineError(.timeout, "exec \(id) ran longer than \(timeout) s")
            case 2: throw DockerEngineError(.tooLarge, "exec \(id) wrote more than \(limit) bytes")
            default: throw Self.streamError(end.error, "exec \(id)")
            }
        }
        // Cut one byte further on stdout, for the acknowledgement; stderr is cut to the limit again.
        var streams = try ExecStreamDemultiplexer.split(raw, limit: streamLimit + 1)
        guard streams.stdout.first == acknowledgement else {
            throw DockerEngineError(.notStarted, "exec \(exec.id) had ended before it took its input")
        }
        streams.stdout.removeFirst()
        if streams.stderr.count > streamLimit {
            streams.stderr.removeLast(streams.stderr.count - streamLimit)
            streams.truncated = true
        }
        return ExecResult(exitCode: try await exitCode(ofExec: exec.id), streams: streams)
    }

    private static func streamError(_ errno: Int32, _ doing: String) -> DockerEngineError {
        let reason = String(cString: strerror(errno))
        return errno == ETIMEDOUT
            ? DockerEngineError(.timeout, "\(doing): \(reason)") : DockerEngineError(.unreachable, "\(doing) on the engine's socket: \(reason)")
    }
}
