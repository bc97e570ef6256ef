import CHiredis
import Glibc

/// One blocking hiredis connection, logged in and on its database. Used by one thread at a time (the pool hands
/// it out); every socket read and write is bounded by the deadline given at connect.
final class RedisConnection: @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects within `timeout`, then sends `AUTH` and `SELECT` as the endpoint asks.
    init(_ endpoint: RedisEndpoint, timeout: Duration) throws {
        let deadline = Self.timeval(of: timeout)
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), deadline) else {
            throw RedisError(.connect, "cannot allocate a connection to \(endpoint)")
        }
        self.context = context
        // From here on a throw runs deinit, which frees the context.
        guard context.pointee.err == 0 else {
            let reason = Self.errorText(context)
            throw RedisError(.connect, "cannot connect to \(endpoint): \(reason); check result_cache.shared_url and that Redis runs")
        }
        redisSetTimeout(context, deadline)
        do {
            if let password = endpoint.password { _ = try command([Array("AUTH".utf8), Array(password.utf8)]) }
            if endpoint.database != 0 { _ = try command([Array("SELECT".utf8), Array(String(endpoint.database).utf8)]) }
        } catch let error as RedisError where error.code == .server {
            throw RedisError(.connect, "\(endpoint) refused the login: \(error.message); check the password and database", underlying: error)
        }
    }

    deinit { redisFree(context) }

    /// Sends one command (binary-safe arguments) and waits for its reply. After an ``RedisError/Code/io`` error the
    /// connection is broken and must be dropped.
    func command(_ arguments: [[UInt8]]) throws -> RedisReply {
        let lengths = arguments.map(\.count)
        let reply: UnsafeMutableRawPointer? = withPointers(arguments) { pointers in
            lengths.withUnsafeBufferPointer { lengths in
                redisCommandArgv(context, Int32(arguments.count), pointers, lengths.baseAddress)
            }
        }
        guard let reply else {
            throw RedisError(.io, "no reply from Redis: \(Self.errorText(context))")
        }
        defer { freeReplyObject(reply) }
        let copied = Self.copy(reply.assumingMemoryBound(to: redisReply.self))
        if case .error(let message) = copied { throw RedisError(.server, "Redis answered: \(message)") }
        return copied
    }

    /// C string pointers to each argument's bytes, valid during `body`.
    private func withPointers<R>(_ arguments: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> R) -> R {
        // Copies into one buffer: the pointers must stay valid for the whole call.
        let total = arguments.reduce(0) { $0 + $1.count }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(total, 1)) { buffer in
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for argument in arguments {
                argument.withUnsafeBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[offset..<offset + argument.count])
                        .copyMemory(from: bytes)
                }
                pointers.append(UnsafePointer(buffer.baseAddress! + offset))
                offset += argument.count
            }
            return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        }
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        func text() -> String {
            guard let string = value.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: string, count: value.len), as: UTF8.self)
        }
        switch value.type {
        case REDIS_REPLY_STRING:
            guard let string = value.str else { return .string([]) }
            return .string(Array(UnsafeRawBufferPointer(start: string, count: value.len)))
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            guard let elements = value.element else { return .array([]) }
            return .array((0..<value.elements).map { index in elements[index].map(copy) ?? .null })
        default: return .null
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func timeval(of duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
