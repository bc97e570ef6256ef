import Foundation
import KilnTestSupport

/// Loads a page in Debian's headless Chromium: the DOM after its scripts ran (and its first self-refresh), and
/// every console message it logged (uncaught exceptions are console messages too).
enum StatusPageBrowser {
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Arguments that make Chromium usable here: as root (no setuid sandbox), without a display or GPU, with a
    /// profile of its own, and with virtual time long enough for the page's first refresh.
    static func arguments(scratch: String) -> [String] {
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", "--user-data-dir=\(scratch)/chromium-profile",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=7000",
        ]
    }

    static func load(_ url: String, chromium: String, scratch: String) throws -> (dom: String, consoleMessages: [String]) {
        let result = try runToCompletion(chromium, arguments(scratch: scratch) + ["--dump-dom", url], timeoutSeconds: 120)
        guard result.status == 0 else { throw TestFailure("chromium exited \(result.status):\n\(result.output.suffix(3000))") }
        let console = result.output.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return (result.output, console)
    }
}
