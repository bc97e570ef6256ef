import ArchiveKit
import BlockingPool
import Foundation
import KilnErrors
import KilnProtocol
import Synchronization

/// FreeBSD only: the pots and jails of the pot sandbox, through the real `pot`, `jexec` and `rctl` commands (each with a
/// deadline, bounded output and a process-group kill). Everything else of the pot sandbox is plain Swift.
///
/// An image is `kiln-image-<archive_id>`: a clone of the template with the toolchain unpacked into its root, then
/// snapshotted. A container is `kiln-builder-<uuid>`: a clone of an image, snapshotted and started; after a job it
/// is stopped, reverted to that snapshot and started again.
struct PotJails: ContainerBackend {
    let settings: PotSandboxSettings
    let limits: SandboxLimits
    /// Whether `rctl` bounds the jails here (found by ``checkResourceLimits()``); nil before.
    let rctl = RctlState()

    final class RctlState: Sendable {
        private let state = Mutex<Bool?>(nil)
        var works: Bool? {
            get { state.withLock { $0 } }
            set { state.withLock { $0 = newValue } }
        }
    }

    init(settings: PotSandboxSettings, limits: SandboxLimits) {
        self.settings = settings
        self.limits = limits
    }

    /// Asks `rctl` for its rules once: it fails where the kernel does not account resources
    /// (`kern.racct.enable=0`, the default before FreeBSD 13's GENERIC had RACCT on), and jobs then run without
    /// rules, as the start-up report says. Nothing to ask when no limit needs it.
    func checkResourceLimits() async {
        guard !PotCommandLine.limitRules(for: "probe", limits).isEmpty else { return rctl.works = false }
        rctl.works = (try? await run(settings.rctlCommand, key: "rctl_cmd", [])) != nil
    }

    /// The output of `pot ls -q`.
    func list() async throws -> String { try await pot(PotCommandLine.list) }

    func buildImage(_ archiveID: String, archivePath: String) async throws {
        let image = settings.imageName(of: archiveID)
        try await pot(PotCommandLine.clone(image, from: settings.cloneFrom, settings.cloneArguments))
        do {
            let root = settings.root(of: image)
            do {
                _ = try await BlockingWork.run { try SafeExtractor(limits: .toolchain).extract(file: archivePath, into: root, inflatingWhole: true) }
            } catch let error
                as ArchiveError
            {
                throw SandboxError(.badToolchain, "the toolchain archive does not unpack: \(error.message)", underlying: error)
            }
            try await pot(PotCommandLine.snapshot(image))
        } catch {
            try? await destroy(image)
            throw error
        }
    }

    func startContainer(fromImageOf archiveID: String) async throws -> String {
        let container = PotSandboxSettings.newContainerName()
        try await pot(PotCommandLine.clone(container, from: settings.imageName(of: archiveID), settings.cloneArguments))
        do {
            try await pot(PotCommandLine.snapshot(container))
            // Rules name the jail, so they hold from its first start and across every reset's restart.
            if rctl.works == true {
                for rule in PotCommandLine.limitRules(for: container, limits) { try await run(settings.rctlCommand, key: "rctl_cmd", rule) }
            }
            try await pot(PotCommandLine.start(container))
        } catch {
            try? await destroy(container)
            throw error
        }
        return container
    }

    /// Stop, revert to the snapshot taken at creation, start: false when any step fails (the pool then destroys
    /// the container). Stopping ends every process of the jail.
    func reset(_ container: String) async -> Bool {
        do {
            for step in [PotCommandLine.stop, PotCommandLine.revert, PotCommandLine.start] { try await pot(step(container)) }
            return true
        } catch {
            return false
        }
    }

    func removeContainer(_ container: String) async { try? await destroy(container) }

    func removeImage(of archiveID: String) async { try? await destroy(settings.imageName(of: archiveID)) }

    /// Destroys a pot (and the rules of its jail); throws when pot says it could not.
    func destroy(_ pot: String) async throws {
        try await self.pot(PotCommandLine.destroy(pot))
        if pot.hasPrefix(PotSandboxSettings.containerPrefix), rctl.works == true {
            _ = try? await run(settings.rctlCommand, key: "rctl_cmd", PotCommandLine.removeRules(of: pot))
        }
    }

    /// Runs the job's compile in the container's jail, as the jail user.
    func compile(in container: String, _ command: CompileCommand) async throws -> ProcessRunner.Outcome {
        let runner = ProcessRunner(timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes)
        return try await runner.run(
            try executable(settings.jexecCommand, key: "jexec_cmd"),
            PotCommandLine.compile(in: container, command, user: settings.jailUser, fileSizeBytes: limits.diskBytes), environment: environment)
    }

    /// Runs `pot` with `arguments`; throws with pot's own message when it exits non-zero.
    @discardableResult
    private func pot(_ arguments: [String]) async throws -> String { try await run(settings.potCommand, key: "pot_cmd", arguments) }

    /// Runs `command` (configured under `key`) with `arguments`; throws with its own message when it fails.
    @discardableResult
    private func run(_ command: String, key: String, _ arguments: [String]) async throws -> String {
        let runner = ProcessRunner(timeout: settings.commandTimeout, maxStreamBytes: 1 << 20)
        let outcome = try await runner.run(try executable(command, key: key), arguments, environment: environment)
        guard outcome.termination == .exited(0) else {
            let said = String(decoding: (outcome.stderr + outcome.stdout).suffix(2000), as: UTF8.self)
            throw SandboxError(.setup, "'\(command) \(arguments.joined(separator: " "))' failed (\(outcome.termination))", cause: said)
        }
        return String(decoding: outcome.stdout, as: UTF8.self)
    }

    private var environment: [String: String] { ["PATH": settings.searchPath] }

    private func executable(_ command: String, key: String) throws -> String {
        guard let path = settings.resolve(command) else {
            throw SandboxError(
                .unavailable, "\(key) '\(command)' is not an executable (PATH \(settings.searchPath)); install pot (pkg install pot) or set \(key)")
        }
        return path
    }
}
