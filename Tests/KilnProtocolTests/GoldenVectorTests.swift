import Foundation
import KilnProtocol
import KilnTestSupport
import Testing
import WireStreams

/// Every bincode body captured from real sccache 0.4.0 traffic decodes, re-encodes byte for byte, and carries
/// the values the protocol document annotates.
@Suite struct GoldenVectorTests {
    static func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        let value = try BincodeDecoder().decode(type, from: bytes)
        #expect(try BincodeEncoder().encode(value) == bytes, "\(T.self) did not re-encode byte for byte")
        return value
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func heartbeatRequestAndResults() throws {
        for name in ["real040-sched-conn-001.c2s", "real040-sched-conn-009.c2s"] {
            let body = try SharedVectors.httpBody(name)
            #expect(body.count == 1150)
            let heartbeat = try Self.roundTrip(HeartbeatServerHttpRequest.self, body)
            #expect(heartbeat.jwtKey.count == 32)
            #expect(DigestHex.hex(heartbeat.jwtKey) == "5bd43cd7e7a70520e6095180f6526cf7fb4148a458b0b150262df236b879e3b6")
            #expect(heartbeat.numCPUs == 2)
            #expect(heartbeat.certDigest.count == 32)
            #expect(String(decoding: heartbeat.certPEM, as: UTF8.self).hasPrefix("-----BEGIN CERTIFICATE-----"))
        }
        let first = try Self.roundTrip(HeartbeatServerResult.self, try SharedVectors.httpBody("real040-sched-conn-001.s2c"))
        #expect(first.isNew)
        let later = try Self.roundTrip(HeartbeatServerResult.self, try SharedVectors.httpBody("real040-sched-conn-009.s2c"))
        #expect(!later.isNew)
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func statusResult() throws {
        for name in ["real040-sched-conn-002.s2c", "real040-sched-conn-003.s2c"] {
            let status = try Self.roundTrip(SchedulerStatusResult.self, try SharedVectors.httpBody(name))
            #expect(status.numServers == 1 && status.numCPUs == 2)
        }
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func allocJob() throws {
        let toolchain = try Self.roundTrip(Toolchain.self, try SharedVectors.httpBody("real040-sched-conn-004.c2s"))
        #expect(toolchain.isWellFormed)
        let response = try Self.roundTrip(AllocJobHttpResponse.self, try SharedVectors.httpBody("real040-sched-conn-004.s2c"))
        guard case .success(let success) = response else {
            Issue.record("expected Success, got \(response)")
            return
        }
        #expect(success.jobAlloc.jobID == JobID(0))
        #expect(success.jobAlloc.serverID.description == "127.0.0.1:10501")
        #expect(success.jobAlloc.auth.hasPrefix("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."))
        #expect(success.needToolchain)
        #expect(DigestHex.hex(success.certDigest).hasPrefix("85c9446662e86959"))

        let fake = try Self.roundTrip(AllocJobHttpResponse.self, try SharedVectors.bytes("fakesched-alloc_job.resp.bin"))
        if case .fail = fake { Issue.record("the fake scheduler's answer is a Success") }
    }

    @Test func failVariantMatchesDocumentedBytes() throws {
        let message = "Insufficient capacity across 0 available servers"
        let bytes = try BincodeEncoder().encode(AllocJobHttpResponse.fail(message))
        #expect(bytes.count == 60)
        #expect(Array(bytes.prefix(12)) == [1, 0, 0, 0, 0x30, 0, 0, 0, 0, 0, 0, 0])
        #expect(try BincodeDecoder().decode(AllocJobHttpResponse.self, from: bytes) == .fail(message))
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func serverCertificate() throws {
        let certificate = try Self.roundTrip(
            ServerCertificateHttpResponse.self, try SharedVectors.httpBody("real040-sched-conn-005.s2c"))
        #expect(certificate.certDigest.count == 32)
        #expect(try SharedVectors.httpHead("real040-sched-conn-005.c2s").contains("server_certificate/127.0.0.1:10501"))
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func jobStates() throws {
        let expected: [JobState] = [.ready, .started, .complete]
        for (index, name) in ["006", "007", "008"].enumerated() {
            let state = try Self.roundTrip(JobState.self, try SharedVectors.httpBody("real040-sched-conn-\(name).c2s"))
            #expect(state == expected[index])
            let result = try Self.roundTrip(UpdateJobStateResult.self, try SharedVectors.httpBody("real040-sched-conn-\(name).s2c"))
            #expect(result == .success)
        }
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func assignJobBody() throws {
        let toolchain = try Self.roundTrip(Toolchain.self, try SharedVectors.bytes("client040-assign_job.body.bin"))
        #expect(toolchain.archiveID.count == 64)
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func runJobResultFromRealServer() throws {
        let result = try Self.roundTrip(RunJobResult.self, try SharedVectors.bytes("real040-server-run_job.resp.bin"))
        guard case .complete(let complete) = result else {
            Issue.record("expected Complete")
            return
        }
        #expect(complete.output.code == 0)
        #expect(complete.output.stderr.count == 162)
        #expect(complete.outputs.count == 1)
        #expect(complete.outputs[0].path == "/tmp/capjob/in.o")
        #expect(complete.outputs[0].data.uncompressedLength == 1096)
        let object = try complete.outputs[0].data.decompressed()
        #expect(object.count == 1096)
        #expect(Array(object.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46])  // an ELF object
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func runJobRequestFraming() throws {
        let body = try SharedVectors.bytes("handmade-run_job.req.bin")
        let reader = try RunJobBodyReader(maxInputBytes: 1 << 20)
        var tar: [UInt8] = []
        var request: RunJobHttpRequest?
        // Feed in awkward pieces to exercise the incremental reader.
        var offset = 0
        while offset < body.count {
            let end = min(offset + 3, body.count)
            let piece = Array(body[offset..<end])
            if let decoded = try piece.withUnsafeBytes({ try reader.consume($0) { tar.append(contentsOf: $0) } }) {
                request = decoded
            }
            offset = end
        }
        try reader.finish()
        let decoded = try #require(request)
        let headerLength = body.prefix(4).reduce(0) { ($0 << 8) | Int($1) }
        #expect(try BincodeEncoder().encode(decoded) == Array(body[4..<4 + headerLength]))
        #expect(decoded.outputs.allSatisfy { $0.hasPrefix("/") })
        #expect(tar.count % 512 == 0 && tar.count >= 1024)
        #expect(String(decoding: tar[257..<262], as: UTF8.self) == "ustar")
    }
}
