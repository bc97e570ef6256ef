import Sandboxing
import Testing

/// The seccomp program, run by a small classic-BPF interpreter over the `seccomp_data` a call would produce. (The
/// kernel runs it for real in JobLimitTests and the hostile suite.)
@Suite struct SyscallFilterTests {
    static let allow: UInt32 = 0x7FFF_0000
    static let permissionDenied: UInt32 = 0x0005_0001
    static let notImplemented: UInt32 = 0x0005_0026
    static let x86 = SyscallFilter.Architecture.x86_64
    static let x86Arch: UInt32 = 0xC000_003E

    /// What the program returns for system call `number` of `arch` with a first argument `argument`.
    static func verdict(_ filter: SyscallFilter, arch: UInt32, number: UInt32, argument: UInt32 = 0) throws -> UInt32 {
        let program = filter.program
        try #require(program.count % 8 == 0 && program.count / 8 <= 4096)
        func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(program[at + $1]) << (8 * $1) } }
        // seccomp_data: nr, arch, instruction pointer (8 bytes), then the six 64-bit arguments.
        func load(_ offset: UInt32) throws -> UInt32 {
            switch offset {
            case 0: return number
            case 4: return arch
            case 16: return argument
            default: throw VerdictError.unexpectedLoad(offset)
            }
        }
        var accumulator: UInt32 = 0
        var pc = 0
        while pc * 8 < program.count {
            let at = pc * 8
            let code = UInt16(program[at]) | UInt16(program[at + 1]) << 8
            let (jumpIfTrue, jumpIfFalse, value) = (Int(program[at + 2]), Int(program[at + 3]), word(at + 4))
            switch code {
            case 0x20: accumulator = try load(value)
            case 0x06: return value
            case 0x15: pc += accumulator == value ? jumpIfTrue : jumpIfFalse
            case 0x35: pc += accumulator >= value ? jumpIfTrue : jumpIfFalse
            case 0x45: pc += accumulator & value != 0 ? jumpIfTrue : jumpIfFalse
            default: throw VerdictError.unknownCode(code)
            }
            pc += 1
        }
        throw VerdictError.ranOffTheEnd
    }

    enum VerdictError: Error { case unexpectedLoad(UInt32), unknownCode(UInt16), ranOffTheEnd }

    @Test func aCompilersCallsPassAndEscapesAreRefused() throws {
        let filter = SyscallFilter(for: Self.x86)
        for allowed: UInt32 in [0, 1, 2, 59, 60, 231, 257, 435 - 1] {  // read, write, open, execve, exit, exit_group, openat, pidfd_getfd
            #expect(try Self.verdict(filter, arch: Self.x86Arch, number: allowed) == Self.allow, "call \(allowed)")
        }
        for denied: UInt32 in [272, 308, 165, 166, 155, 101, 250, 321, 298, 175, 169, 425] {  // unshare … io_uring_setup
            #expect(try Self.verdict(filter, arch: Self.x86Arch, number: denied) == Self.permissionDenied, "call \(denied)")
        }
    }

    @Test func cloneMayNotMakeNamespacesAndClone3FallsBackToIt() throws {
        let filter = SyscallFilter(for: Self.x86)
        let threadFlags: UInt32 = 0x003D_0F00  // what pthread_create passes
        #expect(try Self.verdict(filter, arch: Self.x86Arch, number: 56, argument: threadFlags) == Self.allow)
        #expect(try Self.verdict(filter, arch: Self.x86Arch, number: 56, argument: 0x11) == Self.allow, "fork: SIGCHLD only")
        for namespace: UInt32 in [0x0002_0000, 0x1000_0000, 0x4000_0000, 0x2000_0000] {
            #expect(try Self.verdict(filter, arch: Self.x86Arch, number: 56, argument: 0x11 | namespace) == Self.permissionDenied)
        }
        #expect(try Self.verdict(filter, arch: Self.x86Arch, number: 435) == Self.notImplemented)
    }

    @Test func callsOfAnotherABIAreRefused() throws {
        let filter = SyscallFilter(for: Self.x86)
        #expect(try Self.verdict(filter, arch: 0x4000_0003, number: 310) == Self.notImplemented, "i386's unshare through int 0x80")
        #expect(try Self.verdict(filter, arch: Self.x86Arch, number: 0x4000_0000 | 272) == Self.notImplemented, "x32")
    }

    @Test func theAArch64TableRefusesItsOwnNumbers() throws {
        let filter = SyscallFilter(for: .aarch64)
        #expect(try Self.verdict(filter, arch: 0xC000_00B7, number: 97) == Self.permissionDenied, "unshare")
        #expect(try Self.verdict(filter, arch: 0xC000_00B7, number: 63) == Self.allow, "read")
        #expect(try Self.verdict(filter, arch: Self.x86Arch, number: 63) == Self.notImplemented, "another architecture")
    }
}
