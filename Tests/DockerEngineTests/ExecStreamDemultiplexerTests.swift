import DockerEngine
import Testing

/// The exec stream framing, byte for byte as the engine writes it (seen with curl against dockerd 20.10).
@Suite struct ExecStreamDemultiplexerTests {
    static func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let length = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + payload
    }

    @Test func framesGoToTheirStreamsInOrder() throws {
        let bytes = Self.frame(1, "uid=65532\n") + Self.frame(2, "err\n") + Self.frame(1, "more\n")
        let streams = try ExecStreamDemultiplexer.split(bytes, limit: 100)
        #expect(String(decoding: streams.stdout, as: UTF8.self) == "uid=65532\nmore\n")
        #expect(String(decoding: streams.stderr, as: UTF8.self) == "err\n")
        #expect(!streams.truncated)
    }

    @Test func eachStreamIsCutAtTheLimit() throws {
        let streams = try ExecStreamDemultiplexer.split(Self.frame(1, "0123456789") + Self.frame(2, "ab"), limit: 4)
        #expect(streams.stdout == Array("0123".utf8))
        #expect(streams.stderr == Array("ab".utf8))
        #expect(streams.truncated)
    }

    @Test(arguments: [[1, 0, 0], [1, 0, 0, 0, 0, 0, 0, 9, 65], [7, 0, 0, 0, 0, 0, 0, 1, 65]] as [[UInt8]])
    func brokenFramesAreErrors(bytes: [UInt8]) {
        #expect(throws: DockerEngineError.self) { try ExecStreamDemultiplexer.split(bytes, limit: 100) }
    }

    @Test func anEmptyStreamIsNoOutput() throws {
        #expect(try ExecStreamDemultiplexer.split([], limit: 10) == ExecStreamDemultiplexer.Streams())
    }
}
