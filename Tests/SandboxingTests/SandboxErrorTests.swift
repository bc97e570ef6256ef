import ArchiveKit
import KilnErrors
import Testing

@testable import Sandboxing

/// Kiln's one error shape, seen through the sandbox's errors: the wrapped error is kept as an error with the
/// place it was made, and only what the job itself caused is meant for its client.
@Suite struct SandboxErrorTests {
    @Test func theUnderlyingErrorIsKeptAsAnErrorWithWhereItWasMade() {
        let archive = ArchiveError(.symlinkEscape, "'a/b' would be written through a symlink")
        let error = SandboxError.inputsRefused(archive)
        #expect((error.underlying as? ArchiveError)?.code == .symlinkEscape)
        #expect(error.site.file == "SandboxingTests/SandboxErrorTests.swift")
        #expect(error.description == "sandbox badInputs: the job's inputs do not unpack: 'a/b' would be written through a symlink (\(archive))")
        #expect(error.logDescription.hasSuffix("[SandboxingTests/SandboxErrorTests.swift:\(error.site.line)]"))
        let text = SandboxError(.setup, "cannot mount", cause: "EPERM")
        #expect((text.underlying as? ErrorText)?.text == "EPERM")
    }

    @Test func onlyWhatTheJobCausedIsTheJobsOwnDoing() {
        #expect(SandboxError.inputsRefused(ArchiveError(.unsafePath, "'../x' climbs out")).isTheJobsOwnDoing)
        #expect(SandboxError(.limitExceeded, "the job wrote too much").isTheJobsOwnDoing)
        #expect(SandboxError(.timedOut, "ran too long").isTheJobsOwnDoing)
        // The host's disk failing is the builder's problem: its message may name host paths.
        let diskFailed = ArchiveError(.io, "writing '/var/lib/kiln/builds/1/root/a.o' failed; check free disk space")
        #expect(!SandboxError.inputsRefused(diskFailed).isTheJobsOwnDoing)
        #expect(!SandboxError(.badToolchain, "the toolchain archive does not unpack", underlying: diskFailed).isTheJobsOwnDoing)
        #expect(
            SandboxError(.badToolchain, "the toolchain archive is refused", underlying: ArchiveError(.forbiddenType, "a device node"))
                .isTheJobsOwnDoing)
        #expect(!SandboxError(.setup, "cannot mount the overlay on '/var/lib/kiln/builds/1/root'").isTheJobsOwnDoing)
    }
}
