import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a directory is on an ext4 filesystem without a journal. There the inode allocator skips, on every
/// allocation, each inode freed in the last minute (six while its inode block is unwritten), reading its deletion
/// time: a builder that makes and deletes its jobs' files by the thousand makes each new file cost more as jobs run
/// (an empty file took 16 µs to 548 µs to create on one such disk, by block group). A journalled ext4 does not check.
/// The overlay builder says so at start, so that an operator can put `jobs_dir` on a tmpfs.
enum UnjournalledExt4 {
    /// The block device name (`vda`) of the ext4 filesystem holding `path` when it has no journal; nil when it has
    /// one, is no ext4 on a block device (a tmpfs), or `sysfs` does not say.
    static func device(of path: String, sysfs: String = "/sys") -> String? {
        guard let (major, minor) = deviceNumbers(of: path),
            let uevent = KernelFile.text("\(sysfs)/dev/block/\(major):\(minor)/uevent"),
            let name = uevent.split(separator: "\n").first(where: { $0.hasPrefix("DEVNAME=") })?.dropFirst("DEVNAME=".count),
            !name.isEmpty, !name.contains("/"),
            let journal = KernelFile.text("\(sysfs)/fs/ext4/\(name)/journal_task")
        else { return nil }
        return journal.trimmingCharacters(in: .whitespacesAndNewlines) == "<none>" ? String(name) : nil
    }

    /// The major and minor numbers of the device holding `path`.
    static func deviceNumbers(of path: String) -> (major: UInt64, minor: UInt64)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let device = UInt64(status.st_dev)
        // glibc's gnu_dev_major and gnu_dev_minor, macros Swift does not import.
        return ((device >> 8) & 0xfff | (device >> 32) & ~0xfff, device & 0xff | (device >> 12) & ~0xff)
    }
}
