import ArchiveKit
import Foundation
import KilnProtocol

/// FreeBSD only: the pots and jails of the pot sandbox, through the real `pot` and `jexec` commands (each with a
/// deadline, bounded output and a process-group kill). Everything else of the pot sandbox is plain Swift.
///
/// An image is `kiln-image-<archive_id>`: a clone of the template with the toolchain unpacked into its root, then
/// snapshotted. A container is `kiln-builder-<uuid>`: a clone of an image, snapshotted and started; after a job it
/// is stopped, reverted to that snapshot and started again.
struct PotJails: ContainerBackend {
    let settings: PotSandboxSettings

    /// The output of `pot ls -q`.
    func list() async throws -> String { try await pot(PotCommandLine.list) }

    func buildImage(_ archiveID: String, archivePath: String) async throws {
        let image = settings.imageName(of: archiveID)
        try await pot(PotCommandLine.clone(image, from: settings.cloneFrom, settings.cloneArguments))
        do {
            let root = settings.root(of: image)
            do { _ = try await BlockingWork.run { try SafeExtractor(limits: .toolchain).extract(file: archivePath, into: root) } } catch let error
                as ArchiveError
            {
                throw SandboxError(.setup, "the toolchain archive does not unpack: \(error.message)", cause: error.cause)
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

    /// Destroys a pot; throws when pot says it could not.
    func destroy(_ pot: String) async throws { try await self.pot(PotCommandLine.destroy(pot)) }

    /// Runs the job's compile in the container's jail.
    func compile(in container: String, _ command: CompileCommand, limits: SandboxLimits) async throws -> ProcessRunner.Outcome {
        let runner = ProcessRunner(timeout: limits.timeout, maxStreamBytes: limits.maxStreamBytes)
        return try await runner.run(
            try executable(settings.jexecCommand, key: "jexec_cmd"), PotCommandLine.compile(in: container, command), environment: environment)
    }

    /// Runs `pot` with `arguments`; throws with pot's own message when it exits non-zero.
    @discardableResult
    private func pot(_ arguments: [String]) async throws -> String {
        let runner = ProcessRunner(timeout: settings.commandTimeout, maxStreamBytes: 1 << 20)
        let outcome = try await runner.run(try executable(settings.potCommand, key: "pot_cmd"), arguments, environment: environment)
        guard outcome.termination == .exited(0) else {
            let said = String(decoding: (outcome.stderr + outcome.stdout).suffix(2000), as: UTF8.self)
            throw SandboxError(.setup, "'pot \(arguments.joined(separator: " "))' failed (\(outcome.termination))", cause: said)
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
