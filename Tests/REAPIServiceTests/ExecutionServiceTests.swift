import ArchiveKit
import ContentStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KilnProtocol
import KilnTestSupport
import REAPIService
import REAPIWire
import SwiftProtobuf
import Synchronization
import Testing
import WireStreams

/// Execute against a recorded farm: what the builder would be sent, and the stream and stores after its answer.
/// (The real farm runs actions in EndToEndTests/REAPIEndToEndTests.)
@Suite struct ExecutionServiceTests {
    typealias Execution = Build_Bazel_Remote_Execution_V2_Execution

    /// What the farm was asked to run, and the answer it gives.
    final class RecordedFarm: Sendable {
        let jobs = Mutex<[(command: CompileCommand, outputs: [String], inputs: [UInt8], image: String?)]>([])
        let answer: @Sendable (CompileCommand) throws -> JobComplete

        init(answer: @escaping @Sendable (CompileCommand) throws -> JobComplete) { self.answer = answer }

        var runner: FarmJobRunner {
            { job in
                self.jobs.withLock { $0.append((job.command, job.outputs, job.inputsTar, job.containerImage)) }
                return try self.answer(job.command)
            }
        }
    }

    /// An action compiling `src/main.c` in `src`, with its blobs uploaded; returns its digest.
    static func uploadAction(
        to client: GRPCClient<HTTP2ClientTransport.Posix>, doNotCache: Bool = false, outputDirectories: [String] = [],
        commandPlatform: [String: String] = [:], actionPlatform: [String: String] = [:]
    )
        async throws -> Digest
    {
        let source = Array("int main(void) { return 0; }\n".utf8)
        var file = Build_Bazel_Remote_Execution_V2_FileNode()
        (file.name, file.digest) = ("main.c", REAPIHarness.digest(source))
        var src = Build_Bazel_Remote_Execution_V2_Directory()
        src.files = [file]
        let srcBytes = try REAPIHarness.message(src)
        var root = Build_Bazel_Remote_Execution_V2_Directory()
        var node = Build_Bazel_Remote_Execution_V2_DirectoryNode()
        (node.name, node.digest) = ("src", REAPIHarness.digest(srcBytes))
        root.directories = [node]
        let rootBytes = try REAPIHarness.message(root)
        var command = Build_Bazel_Remote_Execution_V2_Command()
        command.arguments = ["/usr/bin/gcc", "-c", "main.c", "-o", "out/main.o"]
        var variable = Build_Bazel_Remote_Execution_V2_Command.EnvironmentVariable()
        (variable.name, variable.value) = ("LANG", "C")
        command.environmentVariables = [variable]
        command.workingDirectory = "src"
        command.outputFiles = ["out/main.o"]
        command.outputDirectories = outputDirectories
        command.platform = Self.platform(commandPlatform)
        let commandBytes = try REAPIHarness.message(command)
        var action = Build_Bazel_Remote_Execution_V2_Action()
        action.commandDigest = REAPIHarness.digest(commandBytes)
        action.inputRootDigest = REAPIHarness.digest(rootBytes)
        action.doNotCache = doNotCache
        action.platform = Self.platform(actionPlatform)
        let actionBytes = try REAPIHarness.message(action)
        try await REAPIHarness.upload([source, srcBytes, rootBytes, commandBytes, actionBytes], to: client)
        return REAPIHarness.digest(actionBytes)
    }

    static func platform(_ properties: [String: String]) -> Build_Bazel_Remote_Execution_V2_Platform {
        var platform = Build_Bazel_Remote_Execution_V2_Platform()
        platform.properties = properties.sorted { $0.key < $1.key }.map { name, value in
            var property = Build_Bazel_Remote_Execution_V2_Platform.Property()
            (property.name, property.value) = (name, value)
            return property
        }
        return platform
    }

    /// The farm is asked for the image that `container-image` names (on the Action before the Command, without
    /// `docker://`); no property, no image; a value that is no image reference is refused before the farm hears of it.
    @Test func theContainerImagePropertyReachesTheFarm() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let farm = RecordedFarm { _ in JobComplete(output: ProcessOutput(code: 0, stdout: [], stderr: []), outputs: []) }
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory), runJob: farm.runner) { client async throws in
            let onCommand = try await Self.uploadAction(to: client, commandPlatform: ["container-image": "docker://gcc:12", "OSFamily": "Linux"])
            _ = try await Self.execute(onCommand, on: client)
            let onBoth = try await Self.uploadAction(
                to: client, commandPlatform: ["container-image": "docker://gcc:12"],
                actionPlatform: ["container-image": "registry.example:5000/tools/cc@sha256:" + String(repeating: "0", count: 64)])
            _ = try await Self.execute(onBoth, on: client)
            _ = try await Self.execute(try await Self.uploadAction(to: client), on: client, skipCache: true)
            let hostile = try await Self.uploadAction(to: client, commandPlatform: ["container-image": "docker://gcc:12 --privileged"])
            await #expect(throws: RPCError.self) { _ = try await Self.execute(hostile, on: client) }
        }
        #expect(
            farm.jobs.withLock { $0.map(\.image) }
                == ["gcc:12", "registry.example:5000/tools/cc@sha256:" + String(repeating: "0", count: 64), nil])
    }

    /// The operations of one Execute, in order.
    static func execute(
        _ action: Digest, on client: GRPCClient<HTTP2ClientTransport.Posix>, skipCache: Bool = false
    ) async throws
        -> [Google_Longrunning_Operation]
    {
        var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
        request.actionDigest = action
        request.skipCacheLookup = skipCache
        return try await Execution.Client(wrapping: client).execute(request) { response in
            var operations: [Google_Longrunning_Operation] = []
            for try await operation in response.messages { operations.append(operation) }
            return operations
        }
    }

    static func stages(_ operations: [Google_Longrunning_Operation]) throws -> [Build_Bazel_Remote_Execution_V2_ExecutionStage.Value] {
        try operations.map { try Build_Bazel_Remote_Execution_V2_ExecuteOperationMetadata(unpackingAny: $0.metadata).stage }
    }

    static func response(_ operations: [Google_Longrunning_Operation]) throws -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        try Build_Bazel_Remote_Execution_V2_ExecuteResponse(unpackingAny: try #require(operations.last).response)
    }

    static let object = Array("\u{7F}ELF an object file".utf8)

    @Test func anActionRunsOnTheFarmAndItsResultIsCached() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let farm = RecordedFarm { _ in
            JobComplete(
                output: ProcessOutput(code: 0, stdout: Array("out".utf8), stderr: []),
                outputs: [NamedOutput(path: "out/main.o", data: try OutputData(compressing: Self.object))])
        }
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory), runJob: farm.runner) { client async throws in
            let capabilities = try await Build_Bazel_Remote_Execution_V2_Capabilities.Client(wrapping: client).getCapabilities(.init())
            #expect(capabilities.executionCapabilities.execEnabled)
            let action = try await Self.uploadAction(to: client)
            let operations = try await Self.execute(action, on: client)
            #expect(try Self.stages(operations) == [.queued, .executing, .completed])
            #expect(operations.last?.done == true && Set(operations.map(\.name)).count == 1)
            let response = try Self.response(operations)
            #expect(response.status.code == 0 && !response.cachedResult)
            #expect(response.result.outputFiles.map(\.path) == ["out/main.o"])
            #expect(response.result.outputFiles.first?.digest == REAPIHarness.digest(Self.object))

            var read = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
            read.digests = [response.result.outputFiles[0].digest, response.result.stdoutDigest]
            let blobs = try await CAS.Client(wrapping: client).batchReadBlobs(read).responses
            #expect(blobs.map(\.data) == [Data(Self.object), Data("out".utf8)], "outputs and stdout are in the CAS")

            let again = try await Self.execute(action, on: client)
            #expect(try Self.response(again).cachedResult, "the second Execute is served from the action cache")
            #expect(try Self.stages(again) == [.completed])
            _ = try await Self.execute(action, on: client, skipCache: true)
        }
        let jobs = farm.jobs.withLock { $0 }
        #expect(jobs.count == 2, "the cached Execute never reached the farm")
        let job = try #require(jobs.first)
        #expect(job.command.executable == "/usr/bin/gcc" && job.command.arguments == ["-c", "main.c", "-o", "out/main.o"])
        #expect(job.command.cwd == "/work/src" && job.outputs == ["out/main.o"])
        #expect(job.command.environment == [EnvironmentVariable("LANG", "C")])
        let listing = try TarListing.entries(job.inputs)
        #expect(listing == ["work/", "work/src/", "work/src/main.c"], "the input root under work/, nothing else")
    }

    /// A failed compile is a result (exit code and all) but is not cached; a farm that cannot run the action gives
    /// an error status; an action its client marked do_not_cache runs each time.
    @Test func failuresAreAnsweredAndNeverCached() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let code = Mutex<Int32>(1)
        let farm = RecordedFarm { _ in
            let exit = code.withLock { $0 }
            guard exit >= 0 else { throw FarmJobFailure(.noCapacity, message: "no builder took the job") }
            return JobComplete(output: ProcessOutput(code: exit, stdout: [], stderr: Array("error: nope".utf8)), outputs: [])
        }
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory), runJob: farm.runner) { client async throws in
            let action = try await Self.uploadAction(to: client)
            let failed = try Self.response(try await Self.execute(action, on: client))
            #expect(failed.status.code == 0 && failed.result.exitCode == 1 && failed.result.outputFiles.isEmpty)
            code.withLock { $0 = -1 }
            let unavailable = try Self.response(try await Self.execute(action, on: client))
            #expect(unavailable.status.code == Int32(RPCError.Code.unavailable.rawValue), "not cached: the farm was asked again")
            code.withLock { $0 = 0 }
            let uncached = try await Self.uploadAction(to: client, doNotCache: true)
            _ = try await Self.execute(uncached, on: client)
            #expect(try Self.response(try await Self.execute(uncached, on: client)).cachedResult == false)
        }
        #expect(farm.jobs.withLock { $0.count } == 4)
    }

    /// An output directory is asked of the builder with a trailing `/`; what it returns under it (directories, empty
    /// ones too, and files) becomes a Tree in the CAS: entries sorted, children named by their digests, the
    /// executable bit read from the bytes; a directory the action did not make is left out.
    @Test func outputDirectoriesComeBackAsTrees() async throws {
        let directory = try TemporaryDirectory(prefix: "kiln-reapi")
        let program = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8) + [2, 0] + [UInt8](repeating: 0, count: 40)
        let returned: [(String, [UInt8])] = [
            ("out/tree/", []), ("out/tree/b.txt", Array("b".utf8)), ("out/tree/a/", []), ("out/tree/a/run", program), ("out/tree/empty/", []),
            ("out/tree/a/deep/", []), ("out/tree/a/deep/c.txt", Array("c".utf8)),
        ]
        let farm = RecordedFarm { _ in
            JobComplete(
                output: ProcessOutput(code: 0, stdout: [], stderr: []),
                outputs: try returned.map { NamedOutput(path: $0.0, data: try OutputData(compressing: $0.1)) })
        }
        try await REAPIHarness.withServer(REAPIHarness.configuration(directory), runJob: farm.runner) { client async throws in
            let action = try await Self.uploadAction(to: client, outputDirectories: ["out/tree", "out/never"])
            let result = try Self.response(try await Self.execute(action, on: client)).result
            #expect(result.outputDirectories.map(\.path) == ["out/tree"], "the directory the action did not make is left out")
            var read = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
            read.digests = [try #require(result.outputDirectories.first).treeDigest]
            let blob = try #require(try await CAS.Client(wrapping: client).batchReadBlobs(read).responses.first)
            let tree = try Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: blob.data)
            #expect(tree.root.files.map(\.name) == ["b.txt"] && tree.root.directories.map(\.name) == ["a", "empty"])
            #expect(tree.root.files.first?.digest == REAPIHarness.digest(Array("b".utf8)))
            let byDigest = Dictionary(
                tree.children.map { (REAPIHarness.digest(try! $0.serializedBytes() as [UInt8]), $0) }, uniquingKeysWith: { first, _ in first })
            let a = try #require(byDigest[tree.root.directories[0].digest], "every child is in the tree under its digest")
            #expect(a.files.map(\.name) == ["run"] && a.files.first?.isExecutable == true && a.directories.map(\.name) == ["deep"])
            let deep = try #require(byDigest[a.directories[0].digest])
            #expect(deep.files.map(\.name) == ["c.txt"] && deep.files.first?.isExecutable == false)
            let empty = try #require(byDigest[tree.root.directories[1].digest])
            #expect(empty.files.isEmpty && empty.directories.isEmpty)
            #expect(tree.children.count == 3)
            read.digests = [tree.root.files[0].digest, a.files[0].digest, deep.files[0].digest]
            #expect(
                try await CAS.Client(wrapping: client).batchReadBlobs(read).responses.map(\.status.code) == [0, 0, 0], "the files are in the CAS")
            #expect(try Self.response(try await Self.execute(action, on: client)).cachedResult, "and the result is served from the cache")
        }
        #expect(farm.jobs.withLock { $0.first?.outputs } == ["out/main.o", "out/tree/", "out/never/"])
    }
}

/// The member names of an uncompressed tar, in order (a directory with its trailing slash).
enum TarListing {
    static func entries(_ tar: [UInt8]) throws -> [String] {
        var names: [String] = []
        var offset = 0
        while offset + 512 <= tar.count, tar[offset] != 0 {
            let header = tar[offset..<offset + 512]
            let name = String(decoding: header.prefix(100).prefix { $0 != 0 }, as: UTF8.self)
            let sizeText = String(decoding: header.dropFirst(124).prefix(12).prefix { $0 != 0 && $0 != 32 }, as: UTF8.self)
            let size = Int(sizeText, radix: 8) ?? 0
            let type = header[header.startIndex + 156]
            // pax extended headers (type x) describe the next member; they are not members themselves.
            let isDirectory = type == UInt8(ascii: "5") && !name.hasSuffix("/")
            if type != UInt8(ascii: "x") && type != UInt8(ascii: "g") { names.append(isDirectory ? name + "/" : name) }
            offset += 512 + (size + 511) / 512 * 512
        }
        return names
    }
}
