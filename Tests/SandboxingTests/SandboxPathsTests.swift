import Testing

@testable import Sandboxing

/// A path as a job names it, resolved by name inside the sandbox root.
@Suite struct SandboxPathsTests {
    @Test func dotDotTakesOffTheComponentBeforeItAndNeverClimbsAboveTheRoot() {
        #expect(SandboxPaths.components(of: "../lib/a.o", cwd: "/w/curl/src") == ["w", "curl", "lib", "a.o"])
        #expect(SandboxPaths.components(of: "/w/curl/src/../lib/a.o", cwd: "/elsewhere") == ["w", "curl", "lib", "a.o"])
        #expect(SandboxPaths.components(of: "./a/./b/..", cwd: "/r") == ["r", "a"])
        #expect(SandboxPaths.components(of: "a/../../b", cwd: "/r") == ["b"])
        #expect(SandboxPaths.components(of: "a/../../..", cwd: "/r") == nil)
        #expect(SandboxPaths.components(of: "/../x", cwd: "/r") == nil)
        #expect(SandboxPaths.components(of: "../../../x", cwd: "/a/b") == nil)
        #expect(SandboxPaths.components(of: "x.o", cwd: "/a//b/") == ["a", "b", "x.o"])
    }

    @Test func theDirectoriesAPathPassesThroughBeforeADotDotAreListed() {
        let resolved = SandboxPaths.resolved("gen/x/../../obj/b.o", cwd: "/w")
        #expect(resolved?.components == ["w", "obj", "b.o"])
        #expect(resolved?.traversed == [["w", "gen", "x"]], "the run's second `..` adds no directory")
        #expect(SandboxPaths.resolved("a/../b/../c.o", cwd: "/w")?.traversed == [["w", "a"], ["w", "b"]])
        #expect(SandboxPaths.resolved("plain/a.o", cwd: "/w")?.traversed == [])
        let maze = (0..<SandboxPaths.maxTraversed).map { "d\($0)/.." }.joined(separator: "/")
        #expect(SandboxPaths.resolved(maze + "/a.o", cwd: "/w")?.components == ["w", "a.o"])
        #expect(SandboxPaths.resolved(maze + "/d/../a.o", cwd: "/w") == nil, "one run of `..` more than the limit")
    }
}
