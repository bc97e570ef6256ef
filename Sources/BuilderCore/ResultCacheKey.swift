import BLAKE3
import KilnProtocol

/// The key of a finished job in the builder's result cache: BLAKE3 over a version/domain tag and, each length
/// prefixed, everything that can change what the job produces: the toolchain's content (its
/// ``ArchiveContentDigest``, not the archive id: sccache stamps each archive it packages with the time, so one
/// compiler comes under many ids), the executable, the arguments, the environment that reaches the compiler
/// (already filtered and sorted by ``JobEnvironmentPolicy``), the working directory, the declared outputs (sorted:
/// their order does not change the files), the inputs (``InputsTarDigest``) and the stream limit, which can cut
/// stdout and stderr short.
///
/// Deliberately not covered: the inputs' mtimes and owners, client variables that never reach the compiler, the
/// job id, and the sandbox backend (every backend runs the same toolchain root).
public struct ResultCacheKey: Hashable, Sendable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    public let hex: String

    public init(toolchainContent: [UInt8], command: CompileCommand, outputs: [String], inputsDigest: [UInt8], streamLimit: Int) {
        var encoder = FieldEncoder()
        encoder.field("toolchain_content", toolchainContent)
        encoder.field("executable", command.executable)
        encoder.list("arguments", command.arguments)
        encoder.list("env", command.environment.flatMap { [$0.name, $0.value] })
        encoder.field("cwd", command.cwd)
        encoder.list("outputs", outputs.sorted())
        encoder.field("inputs", inputsDigest)
        encoder.field("stream_limit", Array(String(streamLimit).utf8))
        hex = DigestHex.standard(encoder.hasher.finalize())
    }

    public var description: String { hex }

    /// A key read back from a file name; nil unless it is 64 lowercase hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.hex = hex
    }

    /// Tag, then each value as a little-endian u64 length and its bytes, so no two field lists encode alike.
    private struct FieldEncoder {
        var hasher = BLAKE3Hasher()

        init() { hasher.update(Array("kiln.result-cache.v2".utf8)) }

        mutating func field(_ name: String, _ bytes: [UInt8]) {
            append(Array(name.utf8))
            append(bytes)
        }

        mutating func field(_ name: String, _ text: String) { field(name, Array(text.utf8)) }

        mutating func list(_ name: String, _ items: [String]) {
            append(Array(name.utf8))
            append(Array(String(items.count).utf8))
            for item in items { append(Array(item.utf8)) }
        }

        private mutating func append(_ bytes: [UInt8]) {
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hasher.update(Array($0)) }
            hasher.update(bytes)
        }
    }
}
