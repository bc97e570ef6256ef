import Foundation
import KilnTestSupport

/// A temporary directory that lives as long as the test process, for what tests share across farms (a farm's own
/// directory goes with the farm); removed when the process exits.
enum ProcessScratch {
    private static let directory: Result<TemporaryDirectory, any Error> = Result {
        let directory = try TemporaryDirectory(prefix: "kiln-e2e-shared")
        atexit { try? ProcessScratch.directory.get().remove() }
        return directory
    }

    /// `name`'s path in the directory (not created).
    static func path(_ name: String) throws -> String { try directory.get().path + "/" + name }
}
