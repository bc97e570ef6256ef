import BlockingPool
import Synchronization

/// A small pool of blocking Redis connections used from async code: each command runs on the blocking pool (never
/// on a cooperative thread or an event loop), with a deadline on the connect and on every socket read and write.
/// A connection that failed is dropped; the next command connects again, so a restarted Redis is picked up.
public final class RedisClient: Sendable {
    public let endpoint: RedisEndpoint
    /// Bounds the connect and each read or write of a command.
    public let timeout: Duration
    private let maxIdle: Int
    private let idle = Mutex<[RedisConnection]>([])

    public init(endpoint: RedisEndpoint, timeout: Duration = .milliseconds(500), maxIdle: Int = 8) {
        (self.endpoint, self.timeout, self.maxIdle) = (endpoint, timeout, maxIdle)
    }

    /// Runs one command. Throws ``RedisError`` when Redis cannot be reached, answers too late, or answers an error.
    public func command(_ arguments: [[UInt8]]) async throws -> RedisReply {
        try await BlockingWork.run { [self] in
            if let pooled = idle.withLock({ $0.popLast() }) {
                do {
                    return try run(arguments, on: pooled)
                } catch let error as RedisError where error.code == .io {
                    // An idle connection the server closed (a restart, its idle timeout): once more on a new one.
                }
            }
            return try run(arguments, on: RedisConnection(endpoint, timeout: timeout))
        }
    }

    private func run(_ arguments: [[UInt8]], on connection: RedisConnection) throws -> RedisReply {
        do {
            let reply = try connection.command(arguments)
            giveBack(connection)
            return reply
        } catch let error as RedisError where error.code == .server {
            // The server answered: the connection is still in step.
            giveBack(connection)
            throw error
        }
    }

    /// ``command(_:)`` with text arguments.
    public func command(_ arguments: [String]) async throws -> RedisReply {
        try await command(arguments.map { Array($0.utf8) })
    }

    private func giveBack(_ connection: RedisConnection) {
        idle.withLock { pool in
            if pool.count < maxIdle { pool.append(connection) }
        }
    }
}
