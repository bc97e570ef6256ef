import Foundation

/// The fake `pot` and `jexec` of `Tests/PotFakes` set up in a directory: wrappers that bind them to one pot file
/// system root, the template pot made with the documented setup commands, and the log of every call.
public struct FakePot: Sendable {
    /// `pot_fs_root` of the builder.
    public let root: String
    /// `pot_cmd` and `jexec_cmd` of the builder.
    public let potCommand: String
    public let jexecCommand: String
    public let rctlCommand: String

    /// Why the fakes cannot run here, or nil: they need root (as pot does), bubblewrap and a static busybox.
    public static var missingPrerequisite: String? {
        if getuid() != 0 { return "not root: pot needs root, and so does its fake (CI runs as root)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap") { return "/usr/bin/bwrap is missing (apt install bubblewrap)" }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") { return "/bin/busybox is missing (apt install busybox-static)" }
        return nil
    }

    /// Lays out an empty pot root and the two commands under `directory`.
    public init(in directory: String) throws {
        root = directory + "/pot"
        let fakes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("PotFakes").path
        try FileManager.default.createDirectory(atPath: root + "/jails", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        potCommand = directory + "/bin/pot"
        jexecCommand = directory + "/bin/jexec"
        rctlCommand = directory + "/bin/rctl"
        for (wrapper, fake) in [(potCommand, "pot"), (jexecCommand, "jexec"), (rctlCommand, "rctl")] {
            try writeExecutable(wrapper, "#!/bin/sh\nFAKE_POT_ROOT='\(root)' exec /bin/bash '\(fakes)/\(fake)' \"$@\"\n")
        }
    }

    /// Makes the template pot with the setup steps of deploy/freebsd/README.md.
    public func createTemplate(_ name: String = "sccache-template") throws {
        for arguments in [
            ["create", "-p", name, "-N", "alias", "-i", "lo0|127.0.0.2", "-t", "single", "-b", "14.1"],
            ["set-cmd", "-p", name, "-c", "/usr/bin/true"],
            ["set-attr", "-p", name, "-A", "no-rc-script", "-V", "YES"],
            ["snapshot", "-p", name],
        ] {
            try pot(arguments)
        }
        clearCalls()
    }

    /// Runs the fake pot; throws when it fails.
    @discardableResult
    public func pot(_ arguments: [String]) throws -> String {
        let result = try runCommand(potCommand, arguments)
        guard result.status == 0 else { throw FakePotError(message: "pot \(arguments) exited \(result.status)") }
        return result.output
    }

    /// Every call since the last ``clearCalls()``: the tool (`pot` or `jexec`) and its arguments.
    public func calls() -> [[String]] {
        let log = (try? String(contentsOfFile: root + "/calls.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    public func clearCalls() { try? FileManager.default.removeItem(atPath: root + "/calls.log") }

    /// The pots that exist (read from the directories, so the call log stays as it is).
    public func pots() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/jails")) ?? []
        return names.filter { FileManager.default.fileExists(atPath: "\(root)/jails/\($0)/conf/pot.conf") }.sorted()
    }

    /// Makes every `pot <subcommand>` fail until ``clearFault(_:)``.
    public func injectFault(_ subcommand: String) throws {
        try FileManager.default.createDirectory(atPath: root + "/faults", withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: root + "/faults/" + subcommand, contents: nil) else {
            throw FakePotError(message: "cannot create the fault file of \(subcommand)")
        }
    }

    public func clearFault(_ subcommand: String) { try? FileManager.default.removeItem(atPath: root + "/faults/" + subcommand) }

    /// The root directory of a pot as the host sees it.
    public func rootOf(_ pot: String) -> String { "\(root)/jails/\(pot)/m" }
}

public struct FakePotError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
