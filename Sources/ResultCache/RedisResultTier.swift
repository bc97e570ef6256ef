import BuilderCore
import RedisClient

/// The shared tier in Redis: `kiln:result:2:<key>` holds a ``ResultCacheEntry`` with the entry's TTL as its expiry,
/// `kiln:lease:<key>` the owner of the build in progress (`SET NX` with an expiry the owner renews). Each step is
/// one Lua script, so a claim (read the entry, else take the lease) is atomic across builders.
public struct RedisResultTier: SharedResultTier {
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    public func claim(_ key: ResultCacheKey, owner: String, lease: Duration) async throws -> SharedClaim {
        // A lease already ours counts as taken: a claim whose reply was lost may be sent again.
        let reply = try await eval(
            """
            local entry = redis.call('GET', KEYS[1])
            if entry then return {1, entry} end
            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
            if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) return {2} end
            return {3}
            """, keys: [entryKey(key), leaseKey(key)], arguments: [owner, milliseconds(lease)])
        guard case .array(let parts) = reply, let kind = parts.first else {
            throw RedisError(.server, "unexpected reply to a claim: \(reply)")
        }
        switch (kind, parts.count > 1 ? parts[1] : nil) {
        case (.integer(1), .string(let bytes)?): return .entry(bytes)
        case (.integer(2), _): return .lead
        case (.integer(3), _): return .held
        default: throw RedisError(.server, "unexpected reply to a claim: \(reply)")
        }
    }

    public func renew(_ key: ResultCacheKey, owner: String, lease: Duration) async throws -> Bool {
        let reply = try await eval(
            """
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
            return 0
            """, keys: [leaseKey(key)], arguments: [owner, milliseconds(lease)])
        return reply == .integer(1)
    }

    public func publish(_ entry: [UInt8], for key: ResultCacheKey, expiresIn: Duration, owner: String) async throws {
        _ = try await eval(
            """
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
            return 1
            """, keys: [entryKey(key), leaseKey(key)], arguments: [entry, Array(milliseconds(expiresIn).utf8), Array(owner.utf8)])
    }

    public func release(_ key: ResultCacheKey, owner: String) async throws {
        _ = try await eval(
            """
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
            return 0
            """, keys: [leaseKey(key)], arguments: [owner])
    }

    public func remove(_ key: ResultCacheKey) async throws {
        _ = try await client.command(["DEL", entryKey(key)])
    }

    private func eval(_ script: String, keys: [String], arguments: [String]) async throws -> RedisReply {
        try await eval(script, keys: keys, arguments: arguments.map { Array($0.utf8) })
    }

    /// `EVAL script` with binary-safe arguments.
    private func eval(_ script: String, keys: [String], arguments: [[UInt8]]) async throws -> RedisReply {
        try await client.command((["EVAL", script, String(keys.count)] + keys).map { Array($0.utf8) } + arguments)
    }

    private func entryKey(_ key: ResultCacheKey) -> String { "kiln:result:2:\(key.hex)" }
    private func leaseKey(_ key: ResultCacheKey) -> String { "kiln:lease:\(key.hex)" }
    private func milliseconds(_ duration: Duration) -> String {
        String(max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
    }
}
