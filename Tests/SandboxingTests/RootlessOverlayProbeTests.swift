import Foundation
import KilnTestSupport
import Testing

@testable import Sandboxing

/// The start-up check of the rootless overlay sandbox must not depend on what else is mounted on the host: a
/// builder next to other mount users (a root builder's jobs, containers) has to start every time.
@Suite(.serialized) struct RootlessOverlayProbeTests {
    @Test func theProbeNeverBindsTheHostsRoot() {
        let arguments = RootlessOverlay.probeArguments(root: "/scratch/root")
        let binds = zip(arguments, arguments.dropFirst()).filter { $0.0.hasSuffix("bind") || $0.0.hasSuffix("bind-try") }
        #expect(binds.contains { $0 == ("--bind", "/scratch/root") }, "the overlay mount is the probe's root, as for a job")
        #expect(!binds.contains { $0.1 == "/" }, "a recursive bind of the host's / replays every host mount: \(arguments)")
    }

    /// Three shells mount and unmount tmpfs under a scratch directory as fast as they can while the check runs
    /// again and again; binding the host's `/` failed about one probe in a hundred here ("remount …: No such file").
    @Test(.enabled(if: TestToolchain.missingPrerequisite == nil, Comment(rawValue: TestToolchain.missingPrerequisite ?? "")))
    func theCheckHoldsWhileMountsComeAndGoOnTheHost() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-probe")
        let stop = directory.path + "/stop"
        let churners = try (1...3).map { number in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = [
                "-c",
                #"i=0; while [ ! -e "$1" ]; do i=$((i+1)); d="$2/m$i"; mkdir -p "$d" && mount -t tmpfs churn "$d" && umount "$d"; rmdir "$d"; done"#,
                "churn", stop, directory.path + "/churn\(number)",
            ]
            try process.run()
            return process
        }
        defer {
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            for churner in churners { churner.waitUntilExit() }
        }
        for attempt in 1...400 {
            _ = try await RootlessOverlay.check(bubblewrapPath: "/usr/bin/bwrap", scratch: directory.path + "/probe\(attempt)")
        }
        #expect(churners.allSatisfy { $0.isRunning }, "the mounts kept coming and going during every check")
    }
}
