import CJobSpawn
import Foundation
import Synchronization

/// A job's first process, started before the job arrives and already inside the job's cgroups: it waits for its
/// command and execs it. Moving a process into a cgroup makes the kernel wait for an RCU grace period (10–25 ms
/// measured here on a cgroup v1 host), which every job paid on its critical path; a parked process pays it
/// ahead of time. It runs ``JobParker`` (vfork+exec: a fork of the server would share its memory copy-on-write,
/// and every page the server wrote afterwards would fault). Used once: ``launch(_:timeout:maxStreamBytes:)`` or
/// ``discard()``.
public final class ParkedProcess: Sendable {
    private struct Parked: @unchecked Sendable {
        var value: kiln_parked
    }

    private let parked: Mutex<Parked?>

    private init(_ parked: kiln_parked) { self.parked = Mutex(Parked(value: parked)) }

    deinit { discard() }

    /// Starts `parker` (see ``JobParker``), which joins the cgroups of `cgroupProcsFiles`; the ending says why it
    /// could not. The start happens on ``ParkingThread``, which lives as long as the process: bubblewrap's
    /// parent-death signal follows the thread that started it.
    public static func park(cgroupProcsFiles: [String], parker: String) async -> Result<ParkedProcess, ParkFailure> {
        await ParkingThread.shared.run {
            var fds: [Int32] = []
            defer { fds.forEach { kiln_close($0) } }
            for path in cgroupProcsFiles {
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { return .failure(ParkFailure(ending: .notStarted(stage: "open \(path)", errno: errno))) }
                fds.append(fd)
            }
            var value = kiln_parked()
            var failure = kiln_run_result()
            let status = fds.withUnsafeBufferPointer { kiln_park(parker, $0.baseAddress, Int32($0.count), &value, &failure) }
            guard status == 0 else { return .failure(ParkFailure(ending: JobProcess.ending(of: failure))) }
            return .success(ParkedProcess(value))
        }
    }

    /// Runs `process` (its `cgroupProcsFiles` are ignored: this process is in its cgroups already) to its end.
    /// After ``startSandboxAhead(_:)``, `process` is the job's command for the stub in the sandbox, which enters
    /// `cwd` first.
    public func launch(_ process: JobProcess, cwd: String? = nil, timeout: Duration?, maxStreamBytes: Int) async -> JobProcess.Outcome {
        guard
            let taken = parked.withLock({ state -> Parked? in
                defer { state = nil }
                return state
            })
        else {
            return JobProcess.Outcome(ending: .notStarted(stage: "launch", errno: EALREADY), stdout: [], stderr: [])
        }
        return await JobProcess.waiting(timeout: timeout) { timeoutMilliseconds, cancelFD in
            var value = taken.value
            return process.withRequest(cgroupFDs: []) { request in
                JobProcess.collect { out, err, result in
                    kiln_launch(&value, &request, cwd, timeoutMilliseconds, cancelFD, maxStreamBytes, &out, &err, &result)
                }
            }
        }
    }

    /// Starts `sandbox` now, before its job: bubblewrap (with its rlimits) whose command is
    /// ``JobParker/stubCommand``. The stub waits inside for the job's command, given by ``launch(_:cwd:timeout:maxStreamBytes:)``.
    /// False when the command could not be sent (the process is then discarded).
    public func startSandboxAhead(_ sandbox: JobProcess) -> Bool {
        let sent = parked.withLock { state -> Bool in
            guard var value = state?.value else { return false }
            defer { state?.value = value }
            return sandbox.withRequest(cgroupFDs: []) { request in kiln_send_command(&value, &request, nil, Int32(KILN_COMMAND_AHEAD)) == 0 }
        }
        if !sent { discard() }
        return sent
    }

    /// Kills and reaps the parked process, if it was not launched.
    public func discard() {
        guard
            var taken = parked.withLock({ state -> Parked? in
                defer { state = nil }
                return state
            })
        else { return }
        kiln_unpark(&taken.value)
    }
}

/// Why a process could not be parked.
public struct ParkFailure: Error, Sendable {
    public let ending: JobProcess.Ending
}

/// One long-lived thread that starts every parked process (see ``ParkedProcess/park(cgroupProcsFiles:parker:)``).
/// Its queue is guarded by an `NSCondition` (a pthread mutex and condition variable): Thread Sanitizer follows
/// those, whereas a contended `Synchronization.Mutex` hands the lock over inside a futex it cannot see, and
/// `scripts/tsan` then reports a race that is not there.
final class ParkingThread: @unchecked Sendable {
    static let shared = ParkingThread()

    /// Guarded by `condition`.
    private var work: [@Sendable () -> Void] = []
    private let condition = NSCondition()

    private init() {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while work.isEmpty { condition.wait() }
                let next = work.removeFirst()
                condition.unlock()
                next()
            }
        }
        thread.name = "kiln-parking"
        thread.start()
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            condition.lock()
            work.append { continuation.resume(returning: body()) }
            condition.signal()
            condition.unlock()
        }
    }
}
