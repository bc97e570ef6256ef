import Foundation
import KilnTestSupport
import Testing

/// Compilers besides gcc through Kiln's farm with the real sccache 0.16 client: a Rust crate graph built offline by
/// cargo and rustc from Debian's `librust-*-dev` sources (a `directory` source replacement), and one g++
/// and one clang compile (Debian's clang 14). sccache distributes what it can cache (library crates, C and C++
/// objects) and runs the rest (build scripts, the final binary's link) on the client.
@Suite(.serialized, .requires(OtherCompilers.missing)) struct OtherCompilersEndToEndTests {
    static func farm() throws -> (Farm, SccacheClient) {
        let farm = try Farm()
        try farm.startKilnScheduler()
        try farm.startKilnBuilder(port: freePort())
        try farm.waitForServers(1)
        let client = try SccacheClient(farm: farm, version: "0.16.0", name: "other")
        try client.start()
        return (farm, client)
    }

    @Test func aRustCrateGraphBuildsOfflineWithItsLibraryCratesOnTheFarm() throws {
        let (farm, client) = try Self.farm()
        let project = farm.root + "/probe"
        try FileManager.default.createDirectory(atPath: project + "/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project + "/.cargo", withIntermediateDirectories: true)
        try """
        [package]
        name = "kiln-probe"
        version = "0.1.0"
        edition = "2018"

        [dependencies]
        itoa = "1"
        memchr = "2"
        hex = "0.4"
        fnv = "1"
        either = "1"
        """.write(toFile: project + "/Cargo.toml", atomically: true, encoding: .utf8)
        try """
        [source.crates-io]
        replace-with = "debian"
        [source.debian]
        directory = "\(OtherCompilers.registry)"
        [net]
        offline = true
        """.write(toFile: project + "/.cargo/config.toml", atomically: true, encoding: .utf8)
        try """
        use std::collections::hash_map::Entry;
        fn main() {
            let mut buffer = itoa::Buffer::new();
            let text = buffer.format(40 + 2);
            let position = memchr::memchr(b'2', text.as_bytes()).unwrap();
            let mut counts: fnv::FnvHashMap<&str, u32> = fnv::FnvHashMap::default();
            if let Entry::Vacant(slot) = counts.entry("kiln") { slot.insert(7); }
            let side: either::Either<u32, &str> = either::Either::Left(counts["kiln"]);
            println!("{} {} {} {}", text, position, hex::encode(b"kiln"), side.left().unwrap());
        }
        """.write(toFile: project + "/src/main.rs", atomically: true, encoding: .utf8)
        var environment = client.environment
        environment["RUSTC_WRAPPER"] = client.binary
        environment["RUSTC"] = OtherCompilers.rustc
        environment["CARGO_HOME"] = farm.root + "/cargo-home"
        environment["CARGO_TARGET_DIR"] = project + "/target"
        environment["PATH"] = "/usr/bin:/bin"
        let build = try runToCompletion(
            OtherCompilers.cargo, ["build", "--offline", "-j2"], environment: environment, directory: project, timeoutSeconds: 900)
        #expect(build.status == 0, "cargo build through the farm failed:\n\(build.output.suffix(4000))\n\(client.log.suffix(3000))")
        let run = try runToCompletion(project + "/target/debug/kiln-probe", [], timeoutSeconds: 30)
        #expect(run.status == 0 && run.output == "42 1 6b696c6e 7\n", "the binary runs: \(run.output)")
        let stats = try client.stats()
        #expect(stats.distErrors == 0, "\(stats)")
        #expect(stats.total >= OtherCompilers.crates.count, "every library crate was compiled on the farm: \(stats)\n\(client.log.suffix(3000))")
    }

    @Test func gPlusPlusAndClangCompileOnTheFarmLikeLocally() throws {
        let (farm, client) = try Self.farm()
        let folder = farm.root + "/objects"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try """
        #include <map>
        #include <string>
        int kiln_count(const std::string &word) { std::map<std::string, int> seen; return ++seen[word]; }
        """.write(toFile: folder + "/count.cpp", atomically: true, encoding: .utf8)
        _ = try Sources.write("clangunit", in: folder, salt: 9)
        let compiles: [(compiler: String, source: String)] = [("/usr/bin/g++", "count.cpp"), (OtherCompilers.clang, "clangunit.c")]
        for (index, compile) in compiles.enumerated() {
            let arguments = ["-c", "-O2", compile.source, "-o", "remote-\(index).o"]
            let remote = try client.run([compile.compiler] + arguments, directory: folder, timeoutSeconds: 300)
            #expect(remote.status == 0, "\(compile.compiler) through the farm: \(remote.output)")
            let local = try runToCompletion(compile.compiler, ["-c", "-O2", compile.source, "-o", "local-\(index).o"], directory: folder)
            #expect(local.status == 0, "\(local.output)")
            let remoteBytes = FileManager.default.contents(atPath: "\(folder)/remote-\(index).o")
            #expect(remoteBytes != nil && remoteBytes == FileManager.default.contents(atPath: "\(folder)/local-\(index).o"), "\(compile.compiler)")
            let stats = try client.stats()
            #expect(stats.total == index + 1 && stats.distErrors == 0, "\(compile.compiler) was distributed: \(stats)\n\(client.log.suffix(2000))")
        }
    }
}

/// The compilers and crates ``OtherCompilersEndToEndTests`` use, and why they cannot run here.
enum OtherCompilers {
    /// The Rust toolchain: rustup's, resolved to its sysroot's own binaries (sccache packages the sysroot; Debian's
    /// rustc has `/usr` as its sysroot, so sccache would package all of `/usr/lib` and fails on its dangling links).
    static let sysroot: String? = {
        let rustup = (ProcessInfo.processInfo.environment["HOME"] ?? "/root") + "/.cargo/bin/rustc"
        guard FileManager.default.isExecutableFile(atPath: rustup),
            let printed = try? runToCompletion(rustup, ["--print", "sysroot"], timeoutSeconds: 60), printed.status == 0
        else { return nil }
        return printed.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }()
    static var cargo: String { (sysroot ?? "/nonexistent") + "/bin/cargo" }
    static var rustc: String { (sysroot ?? "/nonexistent") + "/bin/rustc" }
    static let clang = "/usr/bin/clang-14"
    static let registry = "/usr/share/cargo/registry"
    /// The crates the probe depends on (Debian: librust-itoa-dev, -memchr-dev, -hex-dev, -fnv-dev, -either-dev).
    static let crates = ["itoa", "memchr", "hex", "fnv", "either"]

    static var missing: String? {
        if let missing = Binaries.missingPrerequisite { return missing }
        for path in [cargo, rustc, clang, "/usr/bin/g++"] where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(path) is missing (rustup's toolchain in ~/.cargo; scripts/test installs Debian's clang and g++)"
        }
        let present = (try? FileManager.default.contentsOfDirectory(atPath: registry)) ?? []
        for crate in crates where !present.contains(where: { $0.hasPrefix(crate + "-") }) {
            return "no \(crate) crate in \(registry) (scripts/test installs librust-\(crate)-dev)"
        }
        return nil
    }
}
