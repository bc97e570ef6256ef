import BuilderCore
import Foundation
import KilnProtocol
import KilnTestSupport
import ResultCache
import Synchronization
import Testing

@Suite struct ResultCacheStoreTests {
    /// Wall time a test moves by hand (entries carry seconds since 1970, as they must across restarts).
    final class TestTime: Sendable {
        private let seconds = Mutex(1_800_000_000.0)
        var now: @Sendable () -> Date { { [self] in Date(timeIntervalSince1970: seconds.withLock { $0 }) } }
        func advance(_ by: Double) { seconds.withLock { $0 += by } }
    }

    static func key(_ seed: String) -> ResultCacheKey {
        ResultCacheKey(
            toolchainContent: Array(seed.utf8), command: CompileCommand(executable: "/usr/bin/gcc", arguments: [], environment: [], cwd: "/"),
            outputs: [],
            inputsDigest: [], streamLimit: 0)
    }

    static func result(code: Int32 = 0, size: Int = 100) -> JobComplete {
        JobComplete(
            output: ProcessOutput(code: code, stdout: Array("out".utf8), stderr: Array("warning".utf8)),
            outputs: [NamedOutput(path: "/src/a.o", data: OutputData(compressed: Array(repeating: 7, count: size), uncompressedLength: 9))])
    }

    static func settings(_ directory: TemporaryDirectory) -> ResultCacheSettings { ResultCacheSettings(directory: directory.path + "/results") }

    /// Successes live 1000 s, failures 100 s.
    static func expiringSettings(_ directory: TemporaryDirectory) -> ResultCacheSettings {
        var settings = settings(directory)
        (settings.ttlSeconds, settings.failureTTLSeconds) = (1000, 100)
        return settings
    }

    /// The store refuses a too-large answer before it encodes one, by the length counted without encoding.
    @Test func anEntrysLengthIsKnownBeforeItIsEncoded() throws {
        for result in [
            Self.result(size: 0), Self.result(code: 1, size: 70_000),
            JobComplete(
                output: ProcessOutput(code: -2, stdout: Array("out ü".utf8), stderr: [1, 2]),
                outputs: [
                    NamedOutput(path: "é/a.o", data: OutputData(compressed: [9, 9, 9], uncompressedLength: 12)),
                    NamedOutput(path: "", data: OutputData(compressed: [], uncompressedLength: 0)),
                ]),
        ] {
            let encoded = try ResultCacheEntry(createdAt: 1, result: result).encoded(key: Self.key("length").hex)
            #expect(ResultCacheEntry.length(of: result) == encoded.count)
        }
    }

    @Test func servesWhatItStoredAcrossARestart() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let key = Self.key("a")
        do {
            let store = try ResultCacheStore(settings: Self.settings(directory))
            #expect(await store.lookup(key) == .miss)
            #expect(try await store.store(Self.result(), for: key))
        }
        let reopened = try ResultCacheStore(settings: Self.settings(directory))
        #expect(reopened.entryCount == 1)
        #expect(await reopened.lookup(key) == .hit(Self.result()))
        #expect(await reopened.lookup(Self.key("b")) == .miss)
        let incoming = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/results/.incoming")
        #expect(incoming.isEmpty, "published by rename; no temporary file stays behind")
    }

    @Test func truncatedOrAlteredEntryIsAMissAndIsRemoved() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let store = try ResultCacheStore(settings: Self.settings(directory))
        let damages: [(inout Data) -> Void] = [{ $0.removeLast(10) }, { $0[40] ^= 1 }, { $0 = Data() }]
        for (index, damage) in damages.enumerated() {
            let key = Self.key("damaged-\(index)")
            try await store.store(Self.result(), for: key)
            let path = directory.path + "/results/\(key.hex.prefix(2))/\(key.hex)"
            var bytes = FileManager.default.contents(atPath: path) ?? Data()
            damage(&bytes)
            try bytes.write(to: URL(fileURLWithPath: path))
            guard case .corrupt = await store.lookup(key) else {
                Issue.record("damage \(index) was not detected")
                continue
            }
            #expect(!FileManager.default.fileExists(atPath: path), "a damaged entry is removed")
            #expect(await store.lookup(key) == .miss)
        }
        #expect(store.entryCount == 0)
    }

    @Test func failuresHaveTheirOwnTTLAndZeroKeepsThemOut() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let time = TestTime()
        var settings = Self.expiringSettings(directory)
        let store = try ResultCacheStore(settings: settings, now: time.now)
        let (success, failure) = (Self.key("ok"), Self.key("failed"))
        try await store.store(Self.result(), for: success)
        #expect(try await store.store(Self.result(code: 1), for: failure))
        time.advance(50)
        #expect(await store.lookup(failure) == .hit(Self.result(code: 1)))
        time.advance(100)
        #expect(await store.lookup(failure) == .expired)
        #expect(await store.lookup(success) == .hit(Self.result()))
        time.advance(1000)
        #expect(await store.lookup(success) == .expired)
        #expect(store.entryCount == 0, "expired entries are removed")

        settings.failureTTLSeconds = 0
        let noFailures = try ResultCacheStore(settings: settings, now: time.now)
        #expect(try await !noFailures.store(Self.result(code: 1), for: failure))
        #expect(await noFailures.lookup(failure) == .miss)
    }

    @Test func sweepRemovesOnlyExpiredEntries() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let time = TestTime()
        let store = try ResultCacheStore(settings: Self.expiringSettings(directory), now: time.now)
        try await store.store(Self.result(code: 2), for: Self.key("failed"))
        try await store.store(Self.result(), for: Self.key("ok"))
        time.advance(500)
        #expect(await store.sweepExpired() == 1)
        #expect(await store.lookup(Self.key("ok")) == .hit(Self.result()))
        #expect(await store.lookup(Self.key("failed")) == .miss)
    }

    @Test func evictsLeastRecentlyUsedBeyondItsSizeAndRefusesHugeEntries() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        var settings = Self.settings(directory)
        (settings.capacity, settings.maxEntryBytes) = (3000, 2000)
        let store = try ResultCacheStore(settings: settings)
        for name in ["a", "b"] { try await store.store(Self.result(size: 1000), for: Self.key(name)) }
        #expect(await store.lookup(Self.key("a")) != .miss, "a is now the most recently used")
        try await store.store(Self.result(size: 1000), for: Self.key("c"))
        #expect(await store.lookup(Self.key("b")) == .miss, "b was least recently used")
        #expect(await store.lookup(Self.key("a")) != .miss)
        #expect(store.totalBytes <= 3000)
        #expect(try await !store.store(Self.result(size: 5000), for: Self.key("huge")), "larger than max_entry_size")
        #expect(await store.lookup(Self.key("huge")) == .miss)
    }

    @Test func readOnlyServesButNeverWritesOrRemoves() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let key = Self.key("seeded")
        try await ResultCacheStore(settings: Self.settings(directory)).store(Self.result(), for: key)
        var settings = Self.settings(directory)
        settings.readOnly = true
        let store = try ResultCacheStore(settings: settings)
        #expect(await store.lookup(key) == .hit(Self.result()))
        #expect(try await !store.store(Self.result(), for: Self.key("new")))
        #expect(await store.lookup(Self.key("new")) == .miss)
        let path = directory.path + "/results/\(key.hex.prefix(2))/\(key.hex)"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        guard case .corrupt = await store.lookup(key) else {
            Issue.record("a damaged entry must be a miss in read-only mode too")
            return
        }
        #expect(FileManager.default.fileExists(atPath: path), "read-only: nothing is removed")
    }

    /// A stored length of 0xFF…FF is a corrupt entry, not a trap on every lookup of its key.
    @Test func aLengthThatWouldOverflowIsACorruptEntry() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let store = try ResultCacheStore(settings: Self.settings(directory))
        let key = Self.key("overflow")
        try await store.store(Self.result(), for: key)
        let path = directory.path + "/results/\(key.hex.prefix(2))/\(key.hex)"
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes.replaceSubrange(24..<32, with: [UInt8](repeating: 0xFF, count: 8))  // the payload length, after magic and two u64s
        try bytes.write(to: URL(fileURLWithPath: path))
        guard case .corrupt(let why) = await store.lookup(key) else {
            Issue.record("an impossible length was not refused")
            return
        }
        #expect(why.contains("header says 18446744073709551615"), "\(why)")
    }

    /// An entry knows its key: a file renamed or copied to another key's name (a pre-filled read-only directory
    /// put together by hand) is never served for that key.
    @Test func anEntryUnderAnotherKeysNameIsNeverServed() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-rc")
        defer { directory.remove() }
        let (stored, other) = (Self.key("stored"), Self.key("other"))
        try await ResultCacheStore(settings: Self.settings(directory)).store(Self.result(), for: stored)
        func path(_ key: ResultCacheKey) -> String { directory.path + "/results/\(key.hex.prefix(2))/\(key.hex)" }
        try FileManager.default.createDirectory(atPath: (path(other) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: path(stored), toPath: path(other))
        var settings = Self.settings(directory)
        settings.readOnly = true
        let store = try ResultCacheStore(settings: settings)
        #expect(await store.lookup(stored) == .hit(Self.result()))
        guard case .corrupt(let why) = await store.lookup(other) else {
            Issue.record("an entry was served for a key it was not stored under")
            return
        }
        #expect(why.contains("another key"), "\(why)")
    }
}
