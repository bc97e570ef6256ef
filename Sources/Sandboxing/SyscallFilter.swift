/// The seccomp filter every bubblewrap job runs under (bubblewrap's `--seccomp`): a classic BPF program that
/// refuses, with `EPERM`, the system calls a compiler never makes and a sandbox escape needs — new namespaces
/// (`unshare`, `setns`, `clone` with a `CLONE_NEW*` flag), mounts, `ptrace` and cross-process memory access, the
/// kernel keyring, `bpf`, `perf_event_open`, module, reboot, kexec, swap and clock calls, `io_uring` — and every
/// call of a foreign ABI (32-bit and x32 entry points, where the numbers differ). `clone3` gets `ENOSYS` so that
/// the C library falls back to `clone`, whose flags the filter can read (it cannot read `clone3`'s).
public struct SyscallFilter: Sendable, Equatable {
    /// A CPU architecture the filter knows the system call numbers of.
    public struct Architecture: Sendable, Equatable {
        /// `AUDIT_ARCH_*` as seccomp reports it.
        let auditArch: UInt32
        /// Numbers at and above this are another ABI on the same architecture (x86-64's x32); nil: none.
        let foreignABIFloor: UInt32?
        let denied: [UInt32]
        let clone: UInt32
        let clone3: UInt32

        /// x86-64 (`asm/unistd_64.h`).
        public static let x86_64 = Architecture(
            auditArch: 0xC000_003E, foreignABIFloor: 0x4000_0000,
            denied: [
                272, 308, 165, 166, 155, 161, 101, 310, 311, 250, 248, 249, 321, 298, 175, 313, 176, 169, 246, 320, 167, 168, 163, 304, 303,
                323, 430, 431, 432, 433, 429, 428, 442, 172, 173, 103, 179, 164, 227, 305, 159, 153, 134, 425, 426, 427, 212, 170, 171,
                174, 177, 178, 180, 156,
            ], clone: 56, clone3: 435)

        /// AArch64 (`asm-generic/unistd.h`).
        public static let aarch64 = Architecture(
            auditArch: 0xC000_00B7, foreignABIFloor: nil,
            denied: [
                97, 268, 40, 39, 41, 51, 117, 270, 271, 219, 217, 218, 280, 241, 105, 273, 106, 142, 104, 294, 224, 225, 89, 265, 264, 282,
                430, 431, 432, 433, 429, 428, 442, 116, 60, 170, 112, 266, 171, 58, 425, 426, 427, 18, 161, 162, 42,
            ], clone: 220, clone3: 435)

        /// The architecture this server was built for; nil where the filter does not know its numbers.
        public static var native: Architecture? {
            #if arch(x86_64)
                .x86_64
            #elseif arch(arm64)
                .aarch64
            #else
                nil
            #endif
        }
    }

    /// Every `CLONE_NEW*` flag `clone` takes (mount, cgroup, UTS, IPC, user, PID, network).
    static let newNamespaceFlags: UInt32 = 0x7E02_0000

    public let architecture: Architecture

    public init(for architecture: Architecture) { self.architecture = architecture }

    /// The program as `struct sock_filter` records in this machine's byte order, as `--seccomp` reads them.
    public var program: [UInt8] {
        instructions.flatMap { instruction in
            withUnsafeBytes(of: instruction.code.littleEndian) { Array($0) } + [instruction.jumpIfTrue, instruction.jumpIfFalse]
                + withUnsafeBytes(of: instruction.value.littleEndian) { Array($0) }
        }
    }

    struct Instruction: Equatable {
        var code: UInt16
        var jumpIfTrue: UInt8
        var jumpIfFalse: UInt8
        var value: UInt32
    }

    private enum Return {
        static let allow: UInt32 = 0x7FFF_0000
        static let permissionDenied: UInt32 = 0x0005_0000 | 1  // SECCOMP_RET_ERRNO | EPERM
        static let notImplemented: UInt32 = 0x0005_0000 | 38  // SECCOMP_RET_ERRNO | ENOSYS
    }

    private enum Code {
        static let loadWord: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
        static let jumpIfEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
        static let jumpIfAtLeast: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
        static let jumpIfAnyBit: UInt16 = 0x45  // BPF_JMP | BPF_JSET | BPF_K
        static let `return`: UInt16 = 0x06  // BPF_RET | BPF_K
    }

    /// The instructions; jumps are relative, so each check jumps forward to one of the three returns at the end.
    var instructions: [Instruction] {
        var body: [(Instruction, target: Int?)] = []  // target: 0 deny, 1 ENOSYS, 2 clone's flag check
        func load(_ offset: UInt32) { body.append((Instruction(code: Code.loadWord, jumpIfTrue: 0, jumpIfFalse: 0, value: offset), nil)) }
        func check(_ code: UInt16, _ value: UInt32, _ target: Int) {
            body.append((Instruction(code: code, jumpIfTrue: 0, jumpIfFalse: 0, value: value), target))
        }
        load(4)  // seccomp_data.arch
        body.append((Instruction(code: Code.jumpIfEqual, jumpIfTrue: 1, jumpIfFalse: 0, value: architecture.auditArch), nil))
        body.append((Instruction(code: Code.return, jumpIfTrue: 0, jumpIfFalse: 0, value: Return.notImplemented), nil))
        load(0)  // seccomp_data.nr
        if let floor = architecture.foreignABIFloor { check(Code.jumpIfAtLeast, floor, 1) }
        for number in architecture.denied { check(Code.jumpIfEqual, number, 0) }
        check(Code.jumpIfEqual, architecture.clone3, 1)
        check(Code.jumpIfEqual, architecture.clone, 2)
        body.append((Instruction(code: Code.return, jumpIfTrue: 0, jumpIfFalse: 0, value: Return.allow), nil))
        // The tail: deny, ENOSYS, then clone's check of its flags (the low half of its first argument).
        let tail: [Instruction] = [
            Instruction(code: Code.return, jumpIfTrue: 0, jumpIfFalse: 0, value: Return.permissionDenied),
            Instruction(code: Code.return, jumpIfTrue: 0, jumpIfFalse: 0, value: Return.notImplemented),
            Instruction(code: Code.loadWord, jumpIfTrue: 0, jumpIfFalse: 0, value: 16),  // seccomp_data.args[0], low half
            Instruction(code: Code.jumpIfAnyBit, jumpIfTrue: 0, jumpIfFalse: 1, value: Self.newNamespaceFlags),
            Instruction(code: Code.return, jumpIfTrue: 0, jumpIfFalse: 0, value: Return.permissionDenied),
            Instruction(code: Code.return, jumpIfTrue: 0, jumpIfFalse: 0, value: Return.allow),
        ]
        let tailStart = body.count
        let targets = [tailStart, tailStart + 1, tailStart + 2]
        return body.enumerated().map { index, entry in
            guard let target = entry.target else { return entry.0 }
            var instruction = entry.0
            instruction.jumpIfTrue = UInt8(targets[target] - index - 1)
            return instruction
        } + tail
    }
}
