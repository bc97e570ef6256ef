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
        HostileAttack(name: "job token replayed for another job") { bench in
            let first = try bench.allocate()
            let second = try bench.allocate()
            let answer = try bench.run("echo RAN", job: second, token: first.auth)
            return Verdict(held: answer.status == 401, outcome: "\(answer.status)")
        },
    ]
}
