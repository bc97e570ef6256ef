import ArchiveKit
import Foundation
import KilnProtocol
import KilnTestSupport

/// One attack on the sandbox boundary, sent as a real job, and the check that it failed.
struct HostileAttack: Sendable {
    /// Whether the boundary held, and what happened, for the table.
    struct Verdict {
        let held: Bool
        let outcome: String
    }

    let name: String
    let attack: @Sendable (HostileBench) throws -> Verdict

    static let all: [HostileAttack] = [
        HostileAttack(name: "network egress to a loopback listener") { bench in
            let answer = try bench.run("echo hi | busybox nc 127.0.0.1 \(bench.listener.port) && echo CONNECTED")
            let reached = bench.listener.acceptedConnections()
            return Verdict(held: reached == 0 && !answer.text.contains("CONNECTED"), outcome: "\(reached) connections (\(answer.summary))")
        },
        HostileAttack(name: "read a host file") { bench in
            let answer = try bench.run("cat \(bench.secretPath); busybox find / -name secret.txt 2>/dev/null | busybox xargs cat", outputs: [])
            return Verdict(held: !answer.text.contains(bench.secret), outcome: "secret not visible (\(answer.summary))")
        },
        HostileAttack(name: "output symlinked to a host file") { bench in
            let answer = try bench.run("ln -s \(bench.secretPath) leak.o", outputs: ["leak.o"])
            return Verdict(
                held: !answer.text.contains(bench.secret),
                outcome: answer.result == nil ? "refused (\(answer.status))" : "no output (\(answer.summary))")
        },
        HostileAttack(name: "output path with '..'") { bench in
            let answer = try bench.run("true", outputs: ["../../..\(bench.secretPath)", "/work/..\(bench.secretPath)"])
            return Verdict(
                held: !answer.text.contains(bench.secret),
                outcome: answer.result == nil ? "refused (\(answer.status))" : "no output (\(answer.summary))")
        },
        HostileAttack(name: "fork bomb") { bench in
            let marker = "kiln-bomb-\(UUID().uuidString.prefix(8))"
            let answer = try bench.run("b() { b | b & }; b; busybox sleep 5 # \(marker)")
            let left = HostileBench.survivors(holding: marker)
            return Verdict(held: answer.status != 401 && left.isEmpty, outcome: "contained (\(answer.summary)), \(left.count) processes left")
        },
        HostileAttack(name: "memory bomb (600 MB, limit 256 MB)") { bench in
            let answer = try bench.run("busybox dd if=/dev/zero of=/dev/null bs=600M count=1 && echo SURVIVED")
            return Verdict(
                held: !answer.text.contains("SURVIVED"), outcome: answer.result == nil ? "killed (\(answer.status))" : "refused (\(answer.summary))")
        },
        HostileAttack(name: "disk filler (limit 64 MB)") { bench in
            let answer = try bench.run("i=0; while busybox dd if=/dev/zero of=f$i bs=1M count=8 2>/dev/null; do i=$((i+1)); done; echo FILLED $i")
            // The 500's JSON carries the sandbox's reason: the disk limit, not the deadline, must have stopped it.
            let byTheLimit = answer.status == 500 && answer.text.contains("disk limit")
            return Verdict(held: byTheLimit, outcome: byTheLimit ? "stopped at the disk limit (500)" : "not stopped by the limit (\(answer.summary))")
        },
        HostileAttack(name: "disk filler below a tree deeper than any path") { bench in
            // 300 levels of 20-character names, 6,300 bytes of path: the watch must count there, and the tree must be
            // deleted after the job. (2,200 one-letter levels take longer to make than the deadline allows.)
            let deep = "d=deeper-than-a-path; i=0; while [ $i -lt 300 ]; do mkdir $d && cd -P $d || exit 9; i=$((i+1)); done; "
            let answer = try bench.run(deep + "j=0; while busybox dd if=/dev/zero of=f$j bs=1M count=8 2>/dev/null; do j=$((j+1)); done")
            let byTheLimit = answer.status == 500 && answer.text.contains("disk limit")
            return Verdict(held: byTheLimit, outcome: byTheLimit ? "stopped at the disk limit (500)" : "not stopped by the limit (\(answer.summary))")
        },
        HostileAttack(name: "infinite loop (timeout 10 s)") { bench in
            let answer = try bench.run("while :; do :; done")
            let atTheDeadline = answer.status == 500 && answer.text.contains("timedOut")
            return Verdict(held: atTheDeadline, outcome: "killed at the deadline (\(answer.summary))")
        },
        HostileAttack(name: "process left running after the compile") { bench in
            let marker = "kiln-daemon-\(UUID().uuidString.prefix(8))"
            let answer = try bench.run("(busybox setsid busybox sh -c 'busybox sleep 1000 # \(marker)' &); echo ok > ok.o", outputs: ["ok.o"])
            let left = HostileBench.survivors(holding: marker)
            return Verdict(held: answer.exitCode == 0 && left.isEmpty, outcome: "\(left.count) left (\(answer.summary))")
        },
        HostileAttack(name: "setuid binary in the inputs") { bench in
            let tar = bench.probe.farm.root + "/setuid-\(UUID().uuidString).tar"
            let writer = try TarArchiveWriter(path: tar, compression: .none, format: .ustar)
            try writer.addFile("work/job/suid", contents: [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))), mode: 0o4755)
            try writer.finish()
            let answer = try bench.run("busybox stat -c 'mode=%a' suid; ./suid id -u; id -u", inputsTar: tar)
            return Verdict(held: answer.text.contains("mode=755"), outcome: "setuid bit stripped (\(answer.summary))")
        },
        HostileAttack(name: "toolchain upload that does not hash to its id") { bench in
            let job = try bench.probe.allocate(Toolchain(archiveID: String(repeating: "5", count: 64)))
            let forged = try bench.probe.post("submit_toolchain/\(job.jobAlloc.jobID)", token: job.jobAlloc.auth, body: Array("forged".utf8))
            let refused = (try? BincodeDecoder().decode(SubmitToolchainResult.self, from: forged.body)) == .cannotCache
            let answer = try bench.run("echo RAN", job: job.jobAlloc)
            return Verdict(held: refused && !answer.text.contains("RAN"), outcome: "CannotCache, then run_job \(answer.summary)")
        },
        HostileAttack(name: "tar bomb as inputs (100,001 entries)") { bench in
            let tar = bench.probe.farm.root + "/bomb-\(UUID().uuidString).tar"
            let writer = try TarArchiveWriter(path: tar, compression: .none, format: .ustar)
            for index in 0...100_000 { try writer.addFile("work/job/f\(index)", contents: []) }
            try writer.finish()
            let answer = try bench.run("echo RAN", inputsTar: tar)
            return Verdict(held: !answer.text.contains("RAN"), outcome: "refused (\(answer.summary))")
        },
        HostileAttack(name: "nested user and network namespace, then a link set up") { bench in
            let answer = try bench.run(
                "busybox unshare -r -n busybox ip link set lo up && echo NESTED-NET; busybox unshare -U -r true && echo NESTED-USER; echo ran")
            let breached = answer.text.contains("NESTED")
            return Verdict(
                held: !breached && answer.text.contains("ran"), outcome: breached ? "made one (\(answer.summary))" : "refused (\(answer.summary))")
        },
        HostileAttack(name: "a job's uid on the host") { bench in
            let marker = "kiln-uid-\(UUID().uuidString.prefix(8))"
            let uids = try bench.hostUIDs(holding: marker, whileRunning: "(busybox sh -c 'busybox sleep 3; echo # \(marker)' &); busybox sleep 2")
            let root = uids.isEmpty || uids.contains(0)
            return Verdict(
                held: !root, outcome: uids.isEmpty ? "not seen on the host" : "uid \(uids.sorted().map(String.init).joined(separator: ","))")
        },
        HostileAttack(name: "/dev and /dev/shm filler (limit 64 MB)") { bench in
            let answer = try bench.run(
                "busybox dd if=/dev/zero of=/dev/kiln-fill bs=1M count=8 2>/dev/null && echo WROTE-DEV; "
                    + "i=0; while busybox dd if=/dev/zero of=/dev/shm/f$i bs=1M count=8 2>/dev/null; do i=$((i+1)); done; echo SHM-FILLED $i")
            let byTheLimit = answer.status == 500 && answer.text.contains("disk limit")
            let pieces = answer.text.split(separator: "\n").first { $0.hasPrefix("SHM-FILLED") }.flatMap { Int($0.split(separator: " ").last ?? "") }
            let bounded = byTheLimit || (pieces.map { $0 * 8 <= 72 } ?? false)
            return Verdict(
                held: bounded && !answer.text.contains("WROTE-DEV"),
                outcome: byTheLimit ? "stopped at the disk limit (500)" : "shm filled \(pieces.map { "\($0 * 8) MB" } ?? "?") (\(answer.summary))")
        },
        HostileAttack(name: "a message in /dev/shm and /dev/mqueue for the next jobs") { bench in
            let marker = "kiln-shm-\(UUID().uuidString.prefix(8))"
            let planted = try bench.run("echo \(marker) > /dev/shm/kiln-note; echo \(marker) > /dev/mqueue/kiln-note 2>/dev/null; echo planted")
            // Jobs of a toolchain may alternate between containers: the next few must all find nothing.
            let later = try (0..<3).map { _ in try bench.run("cat /dev/shm/kiln-note /dev/mqueue/kiln-note 2>/dev/null; echo looked") }
            let seen = later.filter { $0.text.contains(marker) }.count
            return Verdict(held: seen == 0 && planted.text.contains("planted"), outcome: "\(seen) of 3 later jobs saw it (\(planted.summary))")
        },
        HostileAttack(name: "out of memory answered as a compile result, twice (cached)") { bench in
            // Killed by the memory cgroup (status 137) or refused by RLIMIT_AS ("memory exhausted"): neither is the
            // compile's result, so the same job asked again must not get a stored failure either.
            let answers = try (0..<2).map { _ in try bench.run("busybox dd if=/dev/zero of=/dev/null bs=600M count=1") }
            let asResults = answers.filter { $0.result != nil }
            return Verdict(held: asResults.isEmpty, outcome: answers.map(\.summary).joined(separator: ", ") + " (500: the client compiles locally)")
        },
        HostileAttack(name: "toolchain replacing Kiln's /.kiln/busybox") { bench in
            // Docker's containers run /.kiln/busybox as root for their upkeep: such a toolchain is refused there.
            // The other sandboxes give /.kiln no role: the toolchain runs, its script never does.
            let (path, toolchain) = try TestToolchain.make(
                in: bench.probe.farm.directory, marker: "-kiln-\(UUID().uuidString.prefix(8))",
                scripts: [".kiln/busybox": "#!/bin/sh\necho PWNED-AS-$(id -u) > /tmp/kiln-pwned\n"])
            let answer = try bench.run("cat /tmp/kiln-pwned 2>/dev/null; echo ran", job: try bench.allocate(other: (toolchain, path)))
            let refused = answer.status == 500 && answer.text.contains("belongs to Kiln")
            return Verdict(
                held: !answer.text.contains("PWNED") && (refused || answer.exitCode == 0),
                outcome: refused ? "refused (500)" : "/.kiln has no role here (\(answer.summary))")
        },
        HostileAttack(name: "toolchain with a device node and a setuid shell") { bench in
            let (path, toolchain) = try TestToolchain.make(in: bench.probe.farm.directory, marker: "-dev-\(UUID().uuidString.prefix(8))") {
                try $0.addSpecial("dev/kiln-disk", kind: .blockDevice)
                try $0.addFile("bin/kiln-suid", contents: [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))), mode: 0o4755)
            }
            let answer = try bench.run("ls -l /dev/kiln-disk /bin/kiln-suid; echo ran", job: try bench.allocate(other: (toolchain, path)))
            let made = answer.text.contains("brw") || answer.text.contains("rws")
            return Verdict(held: !made, outcome: answer.result == nil ? "refused (\(answer.status))" : "made nothing (\(answer.summary))")
        },
        HostileAttack(name: "result-cache entry renamed to another job's key") { bench in
            // Each run writes a fresh id from the kernel: an earlier id in an answer means it was served from the cache.
            let (a, b) = ("cat /proc/sys/kernel/random/uuid > r.o # a", "cat /proc/sys/kernel/random/uuid > r.o # b")
            let results = bench.resultCacheDirectory
            let before = bench.resultCacheEntries
            let first = try bench.run(a, outputs: ["r.o"])
            guard let entryA = bench.newResultCacheEntry(besides: before) else { throw TestFailure("job a was not stored") }
            _ = try bench.run(b, outputs: ["r.o"])
            guard let entryB = bench.newResultCacheEntry(besides: before.union([entryA])) else { throw TestFailure("job b was not stored") }
            guard rename(results + "/" + entryA, results + "/" + entryB) == 0 else { throw TestFailure("cannot move the entry") }
            let again = try bench.run(b, outputs: ["r.o"])
            let served = again.text == first.text
            return Verdict(held: !served && again.exitCode == 0, outcome: served ? "job a's result served for b" : "a miss: b ran again")
        },
        HostileAttack(name: "toolchain bomb (200,001 entries)") { bench in
            let (path, toolchain) = try TestToolchain.make(in: bench.probe.farm.directory, marker: "-bomb-\(UUID().uuidString.prefix(8))") {
                for index in 0...200_000 { try $0.addFile("bomb/f\(index)", contents: []) }
            }
            let answer = try bench.run("echo RAN", job: try bench.allocate(other: (toolchain, path)))
            return Verdict(held: !answer.text.contains("RAN"), outcome: "refused (\(answer.summary))")
        },
        HostileAttack(name: "job token replayed for another job") { bench in
            let first = try bench.allocate()
            let second = try bench.allocate()
            let answer = try bench.run("echo RAN", job: second, token: first.auth)
            return Verdict(held: answer.status == 401, outcome: "\(answer.status)")
        },
    ]
}
