import Foundation
import KilnTestSupport
import Testing

@testable import Sandboxing

/// The builder tells an operator whose jobs' layers are on an ext4 without a journal, from what sysfs says of the
/// directory's device (a sysfs tree written here, for the real device of the directory).
@Suite struct UnjournalledExt4Tests {
    /// A sysfs with `uevent` for the device holding `directory` and, if given, that device's `journal_task`.
    static func sysfs(in root: String, for directory: String, device: String, journal: String?) throws -> String {
        let (major, minor) = try #require(UnjournalledExt4.deviceNumbers(of: directory))
        let sysfs = root + "/sys"
        try FileManager.default.createDirectory(atPath: "\(sysfs)/dev/block/\(major):\(minor)", withIntermediateDirectories: true)
        try "MAJOR=\(major)\nMINOR=\(minor)\nDEVNAME=\(device)\nDEVTYPE=disk\n".write(
            toFile: "\(sysfs)/dev/block/\(major):\(minor)/uevent", atomically: false, encoding: .utf8)
        if let journal {
            try FileManager.default.createDirectory(atPath: "\(sysfs)/fs/ext4/\(device)", withIntermediateDirectories: true)
            try journal.write(toFile: "\(sysfs)/fs/ext4/\(device)/journal_task", atomically: false, encoding: .utf8)
        }
        return sysfs
    }

    @Test func anExt4WithoutAJournalIsNamed() throws {
        let directory = try TemporaryDirectory(prefix: "kiln-ext4-none")
        let sysfs = try Self.sysfs(in: directory.path, for: directory.path, device: "vdz", journal: "<none>\n")
        #expect(UnjournalledExt4.device(of: directory.path, sysfs: sysfs) == "vdz")
    }

    @Test func aJournalledExt4OrAnotherFilesystemIsNot() throws {
        let journalled = try TemporaryDirectory(prefix: "kiln-ext4-jbd2")
        let sysfs = try Self.sysfs(in: journalled.path, for: journalled.path, device: "vdz", journal: "jbd2/vdz-8\n")
        #expect(UnjournalledExt4.device(of: journalled.path, sysfs: sysfs) == nil)
        let other = try TemporaryDirectory(prefix: "kiln-ext4-other")
        let notExt4 = try Self.sysfs(in: other.path, for: other.path, device: "vdz", journal: nil)
        #expect(UnjournalledExt4.device(of: other.path, sysfs: notExt4) == nil, "no /sys/fs/ext4 entry: not ext4")
        #expect(UnjournalledExt4.device(of: other.path + "/missing", sysfs: notExt4) == nil)
    }
}
