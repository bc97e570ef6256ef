import BLAKE3
import Foundation
import KilnProtocol

/// A REAPI action's root, as its toolchain archive describes it.
public struct ActionRoot: Sendable, Hashable {
    /// The image the action asks for (REAPI's `container-image` platform property, without `docker://`); nil: the
    /// builder's own root (the host's `/usr` on overlay builders, the base image on docker builders).
    public var containerImage: String?

    public init(containerImage: String?) { self.containerImage = containerImage }
}

/// The "toolchain" of Remote Execution API actions: a root holding only mount points and the merged-/usr
/// symlinks (`bin`, `lib`, `lib64`, `sbin` into `usr`). A builder that runs a job of this toolchain binds its own
/// `/usr` read-only over the empty one (the REAPI actions' configured root), and nothing else of the host.
///
/// The archive is a plain ustar written here byte by byte, so its id is the same on every scheduler and builder
/// whatever their libarchive: that id is how a builder tells a REAPI action from an sccache job.
public enum HostRootToolchain {
    /// The archive's bytes (uncompressed tar; builders unpack plain and gzipped tars alike).
    public static let archive: [UInt8] = archive(containerImage: nil)

    /// The toolchain as sccache names it: its archive id.
    public static let toolchain: Toolchain = toolchain(containerImage: nil)

    /// Where the action's input root is unpacked, and its working directories start.
    public static let workDirectory = "/work"

    /// The member that names an action's container image (REAPI's `container-image` platform property).
    static let imageMember = "kiln-container-image"
    /// The longest image reference accepted (Docker's own limit on a name and tag is about this).
    public static let maxImageLength = 512

    /// The root of actions that ask for `containerImage`: the same mount points, and a member naming the image, so
    /// each image is a toolchain of its own (a docker builder makes one image per toolchain); nil: the host's root.
    public static func archive(containerImage: String?) -> [UInt8] {
        var tar: [UInt8] = []
        for directory in ["usr/", "tmp/", "work/"] { tar += header(directory, type: "5", mode: directory == "tmp/" ? 0o1777 : 0o755) }
        for link in ["bin", "lib", "lib64", "sbin"] { tar += header(link, type: "2", mode: 0o777, target: "usr/" + link) }
        if let containerImage {
            let bytes = Array(containerImage.utf8)
            tar += header(imageMember, type: "0", mode: 0o644, size: bytes.count)
            tar += bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        }
        return tar + [UInt8](repeating: 0, count: 1024)
    }

    /// The toolchain of ``archive(containerImage:)``.
    public static func toolchain(containerImage: String?) -> Toolchain {
        var hasher = BLAKE3Hasher()
        hasher.update(archive(containerImage: containerImage))
        return Toolchain(archiveID: DigestHex.sccache(hasher.finalize()))
    }

    /// What a toolchain archive says of the action root it is: nil when it is not one (an sccache toolchain),
    /// else the container image it asks for (`.some(nil)`: none, the builder's own root).
    public static func actionRoot(of bytes: [UInt8]) -> ActionRoot? {
        let plain = archive
        if bytes == plain { return ActionRoot(containerImage: nil) }
        let member = plain.count - 1024
        guard bytes.count > plain.count, bytes.count <= plain.count + 1024 + maxImageLength, bytes.starts(with: plain.prefix(member)) else {
            return nil
        }
        let size = Int(String(decoding: bytes[(member + 124)..<(member + 135)], as: UTF8.self), radix: 8) ?? -1
        guard size > 0, size <= maxImageLength, member + 512 + size <= bytes.count else { return nil }
        let image = String(decoding: bytes[(member + 512)..<(member + 512 + size)], as: UTF8.self)
        return bytes == archive(containerImage: image) ? ActionRoot(containerImage: image) : nil
    }

    /// ``actionRoot(of:)`` of the archive at `path`; only small files are read (a toolchain is megabytes).
    public static func actionRoot(ofArchiveAt path: String) -> ActionRoot? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_size <= 16 << 10, let data = FileManager.default.contents(atPath: path) else { return nil }
        return actionRoot(of: Array(data))
    }

    /// One ustar header block (no data: directories and symlinks only), mtime 0, owned by 0:0.
    private static func header(_ name: String, type: Character, mode: Int, target: String = "", size: Int = 0) -> [UInt8] {
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
        put(octal(size, width: 12), at: 124)
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
