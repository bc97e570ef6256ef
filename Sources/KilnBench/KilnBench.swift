import BLAKE3
import Foundation
import KilnProtocol

/// `kiln-bench blake3 FILE [ROUNDS]`: hashes FILE with Kiln's BLAKE3 and prints the digest and MB/s of the best
/// round. Built in release by `scripts/bench/blake3`, which runs `b3sum --num-threads 1` on the same file.
@main
enum KilnBench {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3, arguments[1] == "blake3" else {
            FileHandle.standardError.write(Data("usage: kiln-bench blake3 FILE [ROUNDS]\n".utf8))
            exit(2)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: arguments[2]))
        let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 5 : 5
        var best = Double.infinity
        var digest: [UInt8] = []
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            var hasher = BLAKE3Hasher()
            data.withUnsafeBytes { hasher.update($0) }
            digest = hasher.finalize()
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let megabytes = Double(data.count) / 1_000_000
        print("\(DigestHex.standard(digest)) \(String(format: "%.1f", megabytes / best)) MB/s")
    }
}
