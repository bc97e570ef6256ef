import REAPIWire
import Testing

@testable import REAPIService

/// How long the board keeps ended operations: `retention`, at most `capacity` of them, `endedBytes` in all.
@Suite struct OperationBoardTests {
    typealias Operation = Google_Longrunning_Operation

    static func operation(_ name: String, done: Bool) -> Operation {
        var operation = Operation()
        operation.name = name
        operation.done = done
        return operation
    }

    /// Starts `name` with work that ends at once, and waits for its end.
    static func run(_ name: String, on board: OperationBoard) async {
        let following = board.start(operation(name, done: false)) { operation(name, done: true) }
        for await _ in following.updates {}
    }

    @Test func theOldestEndedOperationsGoBeyondTheCapacity() async {
        let board = OperationBoard(capacity: 2)
        for name in ["a", "b", "c"] { await Self.run(name, on: board) }
        #expect(board.follow("a") == nil)
        #expect(board.follow("b") != nil && board.follow("c") != nil)
    }

    @Test func endedOperationsGoAfterTheirRetention() async {
        let board = OperationBoard(retention: .zero)
        await Self.run("a", on: board)
        try? await Task.sleep(for: .milliseconds(5))
        #expect(board.follow("a") == nil)
    }

    @Test func endedOperationsGoBeyondTheirBytes() async {
        let board = OperationBoard(endedBytes: 1)
        await Self.run("a", on: board)
        await Self.run("b", on: board)
        #expect(board.follow("a") == nil)
    }

    /// A running operation stays, whatever the bounds; its followers hear the end.
    @Test func aRunningOperationIsNeverForgotten() async {
        let board = OperationBoard(retention: .zero, capacity: 0, endedBytes: 0)
        let gate = AsyncStream.makeStream(of: Void.self)
        let first = board.start(Self.operation("running", done: false)) {
            for await _ in gate.stream {}
            return Self.operation("running", done: true)
        }
        await Self.run("other", on: board)
        let second = board.follow("running")
        #expect(second != nil)
        gate.continuation.finish()
        var seen: [Bool] = []
        for await operation in first.updates { seen.append(operation.done) }
        #expect(seen == [false, true])
        if let second { for await operation in second.updates { seen.append(operation.done) } }
        #expect(seen == [false, true, false, true])
    }
}
