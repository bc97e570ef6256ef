import Foundation
import KilnProtocol
import Testing

/// Layouts of protocol §3 that no capture covers, and the JSON answers for humans with curl.
@Suite struct WireShapeTests {
    @Test func socketAddressLayouts() throws {
        let v4 = try #require(ServerID("127.0.0.1:10501"))
        #expect(try BincodeEncoder().encode(v4) == [0, 0, 0, 0, 0x7F, 0, 0, 1, 0x05, 0x29])
        let v6 = try #require(ServerID("[::1]:10505"))
        let bytes = try BincodeEncoder().encode(v6)
        #expect(bytes.count == 22)
        #expect(Array(bytes.prefix(4)) == [1, 0, 0, 0] && bytes[19] == 1 && Array(bytes.suffix(2)) == [0x09, 0x29])
        #expect(try BincodeDecoder().decode(ServerID.self, from: bytes) == v6)
        #expect(v6.description == "[::1]:10505")
        for bad in ["127.0.0.1", "127.0.0.1:99999", "::1:80", "[::1]", "host:80", "1.2.3.4:8a", ""] {
            #expect(ServerID(bad) == nil, "\(bad) must not parse")
        }
    }

    @Test func smallBodies() throws {
        let encoder = BincodeEncoder()
        #expect(try encoder.encode(AssignJobResult.forToolchain(cached: false)) == [0, 0, 0, 0, 1])
        #expect(try encoder.encode(AssignJobResult.forToolchain(cached: true)) == [1, 0, 0, 0, 0])
        #expect(try encoder.encode(SubmitToolchainResult.cannotCache) == [2, 0, 0, 0])
        #expect(try encoder.encode(RunJobResult.jobNotFound) == [0, 0, 0, 0])
        #expect(try encoder.encode(JobID(7)) == [7, 0, 0, 0, 0, 0, 0, 0])
        let command = CompileCommand(executable: "/usr/bin/gcc", arguments: ["-c"], environment: [.init("A", "b")], cwd: "/")
        let round = try BincodeDecoder().decode(CompileCommand.self, from: try encoder.encode(command))
        #expect(round == command)
    }

    @Test func jsonForHumans() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let status = SchedulerStatusResult(numServers: 1, numCPUs: 2, inProgress: 0)
        #expect(String(decoding: try encoder.encode(status), as: UTF8.self) == #"{"in_progress":0,"num_cpus":2,"num_servers":1}"#)
        #expect(String(decoding: try encoder.encode(AllocJobHttpResponse.fail("x")), as: UTF8.self) == #"{"Fail":{"msg":"x"}}"#)
        #expect(String(decoding: try encoder.encode(UpdateJobStateResult.success), as: UTF8.self) == #""Success""#)
        #expect(String(decoding: try encoder.encode(ErrorJSON("Unknown job")), as: UTF8.self) == #"{"cause":null,"description":"Unknown job"}"#)
        let id = try #require(ServerID("10.1.2.3:80"))
        #expect(String(decoding: try encoder.encode([id]), as: UTF8.self) == #"["10.1.2.3:80"]"#)
        #expect(try JSONDecoder().decode(AllocJobHttpResponse.self, from: try encoder.encode(AllocJobHttpResponse.fail("y"))) == .fail("y"))
    }
}
