import BLAKE3
import KilnProtocol

/// The "toolchain" of Remote Execution API actions: a root holding only mount points and the merged-/usr
/// symlinks (`bin`, `lib`, `lib64`, `sbin` into `usr`). A builder that runs a job of this toolchain binds its own
/// `/usr` read-only over the empty one (the REAPI actions' configured root), and nothing else of the host.
///
/// The archive is a plain ustar written here byte by byte, so its id is the same on every scheduler and builder
/// whatever their libarchive: that id is how a builder tells a REAPI action from an sccache job.
public enum HostRootToolchain {
    /// The archive's bytes (uncompressed tar; builders unpack plain and gzipped tars alike).
    public static let archive: [UInt8] = {
        var tar: [UInt8] = []
        for directory in ["usr/", "tmp/", "work/"] { tar += header(directory, type: "5", mode: directory == "tmp/" ? 0o1777 : 0o755) }
        for link in ["bin", "lib", "lib64", "sbin"] { tar += header(link, type: "2", mode: 0o777, target: "usr/" + link) }
        return tar + [UInt8](repeating: 0, count: 1024)
    }()

    /// The toolchain as sccache names it: its archive id.
    public static let toolchain: Toolchain = {
        var hasher = BLAKE3Hasher()
        hasher.update(archive)
        return Toolchain(archiveID: DigestHex.sccache(hasher.finalize()))
    }()

    /// Where the action's input root is unpacked, and its working directories start.
    public static let workDirectory = "/work"

    /// One ustar header block (no data: directories and symlinks only), mtime 0, owned by 0:0.
    private static func header(_ name: String, type: Character, mode: Int, target: String = "") -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte } }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: width - 1 - digits.count) + digits
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(0, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put("        ", at: 148)
        put(String(type), at: 156)
        put(target, at: 157)
        put("ustar\u{0}00", at: 257)
        let checksum = block.reduce(0) { $0 + Int($1) }
        put(octal(checksum, width: 7), at: 148)
        return block
    }
}
