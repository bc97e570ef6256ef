import ArchiveKit
import Foundation
import KilnProtocol
import KilnTestSupport
import Synchronization
import WireStreams

/// A farm with one Kiln builder under attack: the busybox test toolchain, a secret planted on the host outside
/// any sandbox, a loopback listener no job may reach, and jobs sent over the real endpoints (alloc_job on the
/// scheduler, then assign, submit_toolchain and run_job on the builder with the job's token).
final class HostileBench: @unchecked Sendable {
    /// What one run_job got back: the HTTP status and, for a `Complete`, the compile's result.
    struct Answer {
        let status: Int
        let result: JobComplete?
        /// stdout, stderr and every returned output, as text: where a leak would show.
        let text: String
        var exitCode: Int32? { result?.output.code }
        var summary: String { result.map { "200, exit \($0.output.code)" } ?? "\(status)" }
    }

    let probe: BuilderEndpointTests.Probe
    let toolchainPath: String
    let toolchain: Toolchain
    let secretDirectory: String
    let secret = "KILN-SECRET-\(UUID().uuidString)"
    var secretPath: String { secretDirectory + "/secret.txt" }
    let listener: LoopbackListener

    init(_ probe: BuilderEndpointTests.Probe, scripts: [String: String] = [:], marker: String = "") throws {
        self.probe = probe
        listener = try LoopbackListener()
        (toolchainPath, toolchain) = try TestToolchain.make(in: probe.farm.directory, marker: marker, scripts: scripts)
        secretDirectory = "/tmp/kiln-secret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: secretDirectory, withIntermediateDirectories: true)
        chmod(secretDirectory, 0o755)
        try Data(secret.utf8).write(to: URL(fileURLWithPath: secretPath))
        chmod(secretPath, 0o644)
    }

    deinit { try? FileManager.default.removeItem(atPath: secretDirectory) }

    /// The builder's result cache (its default place under `cache_dir`).
    var resultCacheDirectory: String { probe.farm.root + "/kiln-builder-\(probe.server.split(separator: ":").last ?? "")/cache/results" }

    /// The names of the entries in the result cache, as `shard/entry`.
    var resultCacheEntries: Set<String> {
        let names = FileManager.default.subpaths(atPath: resultCacheDirectory) ?? []
        return Set(names.filter { $0.split(separator: "/").count == 2 && !$0.hasPrefix(".") })
    }

    /// An entry of the result cache not in `known`. The builder writes an entry after it answers: this waits for
    /// one, up to 30 seconds, then gives up with nil.
    func newResultCacheEntry(besides known: Set<String>) -> String? {
        let deadline = Date().addingTimeInterval(30)
        while true {
            if let entry = resultCacheEntries.subtracting(known).first { return entry }
            if Date() > deadline { return nil }
            usleep(20_000)
        }
    }

    /// alloc_job, then the toolchain upload when the builder asks for it; returns the job. `other` is another
    /// toolchain than the bench's: its id and archive.
    func allocate(upload: [UInt8]? = nil, other: (toolchain: Toolchain, path: String)? = nil) throws -> JobAlloc {
        let job = try probe.allocate(other?.toolchain ?? toolchain)
        if job.needToolchain {
            let body = try upload ?? [UInt8](Data(contentsOf: URL(fileURLWithPath: other?.path ?? toolchainPath)))
            let answer = try probe.post("submit_toolchain/\(job.jobAlloc.jobID)", token: job.jobAlloc.auth, body: body, chunked: true)
            guard answer.status == 200 else { throw TestFailure("submit_toolchain answered \(answer.status)") }
        }
        return job.jobAlloc
    }

    /// Runs `script` with /bin/sh in /work/job on the builder.
    func run(
        _ script: String, outputs: [String] = [], inputs: [String: String] = [:], inputsTar: String? = nil, job: JobAlloc? = nil,
        token: String? = nil, maxTime: Int? = nil, readOutputs: Bool = true
    ) throws -> Answer {
        let tar = try inputsTar ?? TestToolchain.inputs(in: probe.farm.directory, inputs, name: "inputs-\(UUID().uuidString).tar")
        let command = CompileCommand(
            executable: "/bin/sh", arguments: ["-c", script], environment: [EnvironmentVariable("PATH", "/bin:/usr/bin")], cwd: "/work/job")
        return try run(command, outputs: outputs, inputsTar: tar, job: job, token: token, maxTime: maxTime, readOutputs: readOutputs)
    }

    /// Runs `command` with the inputs tar at `inputsTar` (allocating a job unless one is given).
    /// With `readOutputs` false the outputs stay compressed (a test of gigabyte outputs keeps its own memory).
    func run(
        _ command: CompileCommand, outputs: [String], inputsTar tar: String, job: JobAlloc? = nil, token: String? = nil, maxTime: Int? = nil,
        readOutputs: Bool = true
    ) throws -> Answer {
        let job = try job ?? allocate()
        let header = try BincodeEncoder().encode(RunJobHttpRequest(command: command, outputs: outputs))
        let length = UInt32(header.count)
        let body =
            [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + header
            + (try ZlibDeflate.compress([UInt8](Data(contentsOf: URL(fileURLWithPath: tar)))))
        let answer = try probe.post("run_job/\(job.jobID)", token: token ?? job.auth, body: body, maxTime: maxTime)
        guard answer.status == 200, case .complete(let result)? = try? BincodeDecoder().decode(RunJobResult.self, from: answer.body) else {
            return Answer(status: answer.status, result: nil, text: String(decoding: answer.body, as: UTF8.self))
        }
        var text = String(decoding: result.output.stdout + result.output.stderr, as: UTF8.self)
        for output in result.outputs where readOutputs { text += String(decoding: (try? output.data.decompressed()) ?? [], as: UTF8.self) }
        return Answer(status: answer.status, result: result, text: text)
    }

    /// A plain job right after an attack: it must compile (here: transform its input into its output).
    func servesAPlainJob() -> Bool {
        let marker = UUID().uuidString
        guard let answer = try? run("cat main.c > main.o", outputs: ["main.o"], inputs: ["work/job/main.c": marker]) else { return false }
        return answer.exitCode == 0 && answer.text.contains(marker)
    }

    /// The host uids of the processes whose command line holds `marker`, seen while a job runs `script`.
    func hostUIDs(holding marker: String, whileRunning script: String) throws -> Set<Int> {
        let finished = Mutex(false)
        let answer = Mutex<Result<Answer, any Error>?>(nil)
        Thread.detachNewThread { [self] in
            let result = Result { try run(script) }
            answer.withLock { $0 = result }
            finished.withLock { $0 = true }
        }
        var uids: Set<Int> = []
        while !finished.withLock({ $0 }) {
            for pid in Self.survivors(holding: marker, seconds: 0) {
                let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                // "Uid:\treal\teffective\tsaved\tfilesystem", as this (the host's) user namespace sees them.
                let line = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
                for field in line?.split(whereSeparator: \.isWhitespace).dropFirst() ?? [] { Int(field).map { _ = uids.insert($0) } }
            }
            usleep(20_000)
        }
        _ = try answer.withLock { $0 }?.get()
        return uids
    }

    /// Processes on the host whose command line holds `marker`, once the builder had `seconds` to clean up.
    static func survivors(holding marker: String, seconds: Double = 30) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            let found = entries.filter { Int($0) != nil }.filter { pid in
                FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self).contains(marker) } ?? false
            }
            if found.isEmpty || Date() > deadline { return found }
            usleep(200_000)
        }
    }
}
