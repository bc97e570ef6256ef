import KilnProtocol
import KilnTestSupport
import Testing

/// Hostile bytes never trap the decoder: truncated, bit-flipped, extended and length-forged variants of every
/// golden body are fed to the decoder of their type. Each must throw ``BincodeError`` or decode to a real value:
/// one that encodes to bytes which decode to the same value again.
@Suite struct MutationTests {
    /// A decoder for one golden body's type, erased so all bodies share a loop: true when the decoded value
    /// survives an encode and a decode unchanged.
    struct Case: Sendable {
        let name: String
        let bytes: [UInt8]
        let decode: @Sendable ([UInt8]) throws -> Bool
    }

    static func cases() throws -> [Case] {
        func make<T: Codable & Equatable & Sendable>(_ type: T.Type, _ name: String, _ bytes: [UInt8]) -> Case {
            Case(name: name, bytes: bytes) { mutant in
                let value = try BincodeDecoder().decode(T.self, from: mutant)
                return try BincodeDecoder().decode(T.self, from: try BincodeEncoder().encode(value)) == value
            }
        }
        return [
            make(HeartbeatServerHttpRequest.self, "heartbeat", try SharedVectors.httpBody("real040-sched-conn-001.c2s")),
            make(SchedulerStatusResult.self, "status", try SharedVectors.httpBody("real040-sched-conn-002.s2c")),
            make(Toolchain.self, "toolchain", try SharedVectors.httpBody("real040-sched-conn-004.c2s")),
            make(AllocJobHttpResponse.self, "alloc_job", try SharedVectors.httpBody("real040-sched-conn-004.s2c")),
            make(ServerCertificateHttpResponse.self, "certificate", try SharedVectors.httpBody("real040-sched-conn-005.s2c")),
            make(JobState.self, "job_state", try SharedVectors.httpBody("real040-sched-conn-006.c2s")),
            make(RunJobResult.self, "run_job result", try SharedVectors.bytes("real040-server-run_job.resp.bin")),
            make(AllocJobHttpResponse.self, "fake alloc_job", try SharedVectors.bytes("fakesched-alloc_job.resp.bin")),
            make(RunJobHttpRequest.self, "run_job request", Array(try SharedVectors.bytes("handmade-run_job.req.bin").dropFirst(4))),
        ]
    }

    /// A small deterministic generator, so a failure can be replayed.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    }

    static func mutate(_ original: [UInt8], _ random: inout SplitMix) -> [UInt8] {
        var bytes = original
        switch random.below(5) {
        case 0:  // truncate
            bytes = Array(bytes.prefix(random.below(bytes.count)))
        case 1:  // flip bits
            for _ in 0...random.below(4) where !bytes.isEmpty {
                bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8))
            }
        case 2:  // extend with junk
            for _ in 0...random.below(64) { bytes.append(UInt8(truncatingIfNeeded: random.next())) }
        case 3:  // forge a huge u64 length somewhere (2^60 and friends)
            let value: UInt64 = [1 << 60, UInt64.max, 1 << 32, UInt64(bytes.count) + 1][random.below(4)]
            let at = random.below(max(bytes.count - 8, 1))
            for index in 0..<8 where at + index < bytes.count {
                bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
            }
        default:  // overwrite a run with random bytes
            let at = random.below(bytes.count)
            for index in at..<min(at + 1 + random.below(16), bytes.count) {
                bytes[index] = UInt8(truncatingIfNeeded: random.next())
            }
        }
        return bytes
    }

    @Test(.enabled(if: SharedVectors.missingReason == nil, SharedVectors.skipComment)) func hundredThousandMutantsNeverTrap() async throws {
        let cases = try Self.cases()
        // Seconds of decoding in a debug build: on a thread of its own, not the cooperative pool.
        let (decoded, refused, problems) = try await OwnThread.run { Self.decodeMutants(of: cases) }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(refused > 10_000, "mutations should mostly be refused")
        print("mutation test: \(decoded + refused) mutants, \(refused) refused with BincodeError, \(decoded) decoded")
    }

    /// Decodes 100,000 mutants of the golden bodies: (decoded, refused with a BincodeError, what went wrong).
    static func decodeMutants(of cases: [Case]) -> (Int, Int, [String]) {
        var random = SplitMix(state: 20_261_121)
        var decoded = 0
        var refused = 0
        var problems: [String] = []
        let perCase = 100_000 / cases.count + 1
        for testCase in cases {
            for _ in 0..<perCase {
                let mutant = Self.mutate(testCase.bytes, &random)
                do {
                    if try testCase.decode(mutant) {
                        decoded += 1
                    } else {
                        problems.append("\(testCase.name): a decoded mutant does not survive its own round trip")
                    }
                } catch is BincodeError {
                    refused += 1
                } catch {
                    problems.append("\(testCase.name): a mutant threw a non-bincode error \(error)")
                }
            }
        }
        return (decoded, refused, problems)
    }

    @Test func hugeLengthPrefixIsRefusedWithoutAllocating() throws {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (UInt64(1) << 60).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [1, 2, 3])
        #expect(throws: BincodeError(.lengthTooLarge, "")) { try BincodeDecoder().decode([UInt8].self, from: bytes) }
        #expect(throws: BincodeError(.lengthTooLarge, "")) { try BincodeDecoder().decode(String.self, from: bytes) }
        #expect(throws: BincodeError(.lengthTooLarge, "")) { try BincodeDecoder().decode([String].self, from: bytes) }
    }

    @Test func typedErrors() throws {
        #expect(throws: BincodeError(.unexpectedEnd, "")) { try BincodeDecoder().decode(UInt64.self, from: [1, 2]) }
        #expect(throws: BincodeError(.invalidBool, "")) { try BincodeDecoder().decode(Bool.self, from: [2]) }
        #expect(throws: BincodeError(.invalidUTF8, "")) {
            try BincodeDecoder().decode(String.self, from: [2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE])
        }
        #expect(throws: BincodeError(.invalidVariant, "")) { try BincodeDecoder().decode(JobState.self, from: [9, 0, 0, 0]) }
    }
}
