import ArchiveKit
import BLAKE3
import Foundation
import KilnProtocol

/// A tiny real toolchain for sandbox tests: the host's dash, coreutils pieces and the C library they need,
/// packed as sccache packs one (a gzip tar), with its archive id.
public enum TestToolchain {
    /// busybox (static; Debian's busybox-static, which scripts/test installs) gives hostile jobs their tools.
    public static let programs = [
        "/bin/sh", "/bin/cat", "/bin/ln", "/bin/sleep", "/bin/mkdir", "/usr/bin/env", "/bin/ls", "/bin/rm", "/bin/busybox",
    ]
    public static let libraries = [
        "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libselinux.so.1",
        "/lib/x86_64-linux-gnu/libpcre2-8.so.0",
    ]

    /// Why the sandbox tests cannot run here, or nil.
    public static var missingPrerequisite: String? {
        if getuid() != 0 { return "not root: the overlay sandbox mounts overlayfs (CI runs as root)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap") { return "/usr/bin/bwrap is missing (apt install bubblewrap)" }
        return nil
    }

    /// Writes the archive under `directory` and returns its path and toolchain; `scripts` are added as executables
    /// and `symlinks` as symlinks (path without the leading `/` → contents or target).
    /// `extra` adds whatever else a test needs (devices, setuid files) before the archive is finished.
    public static func make(
        in directory: TemporaryDirectory, marker: String = "", scripts: [String: String] = [:], symlinks: [String: String] = [:],
        extra: ((TarArchiveWriter) throws -> Void)? = nil
    ) throws -> (path: String, toolchain: Toolchain) {
        let path = directory.path + "/toolchain\(marker).tar.gz"
        let writer = try TarArchiveWriter(path: path, compression: .gzip, format: .gnu)
        for file in programs + libraries where FileManager.default.fileExists(atPath: file) {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            try writer.addFile(String(file.dropFirst()), contents: bytes, mode: 0o755)
        }
        for (path, contents) in scripts.sorted(by: { $0.key < $1.key }) { try writer.addFile(path, contents: Array(contents.utf8), mode: 0o755) }
        for (path, target) in symlinks.sorted(by: { $0.key < $1.key }) { try writer.addSymlink(path, target: target) }
        try writer.addFile("etc/toolchain-marker", contents: Array("toolchain \(marker)\n".utf8))
        try extra?(writer)
        try writer.finish()
        var hasher = BLAKE3Hasher()
        hasher.update(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        return (path, Toolchain(archiveID: DigestHex.sccache(hasher.finalize())))
    }

    /// An uncompressed inputs tar with `files` (paths without the leading `/`).
    public static func inputs(in directory: TemporaryDirectory, _ files: [String: String], name: String = "inputs.tar") throws -> String {
        let path = directory.path + "/" + name
        let writer = try TarArchiveWriter(path: path, compression: .none, format: .ustar)
        for (file, contents) in files.sorted(by: { $0.key < $1.key }) { try writer.addFile(file, contents: Array(contents.utf8)) }
        try writer.finish()
        return path
    }
}
