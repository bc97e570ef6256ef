import KilnTestSupport
import RedisClient
import Testing

@Suite(.enabled(if: RedisServerProcess.missingReason == nil, Comment(rawValue: RedisServerProcess.missingReason ?? "")))
struct RedisClientTests {
    static func client(_ redis: RedisServerProcess, password: String? = nil, database: Int = 0) -> RedisClient {
        RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(redis.port), database: database, password: password))
    }

    @Test func valuesAreBinarySafe() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis)
        let value: [UInt8] = [0, 13, 10, 255, 0, 36] + Array(repeating: 0xAB, count: 1 << 20)
        #expect(try await client.command([Array("SET".utf8), [0, 1, 2], value]) == .status("OK"))
        #expect(try await client.command([Array("GET".utf8), [0, 1, 2]]) == .string(value))
        #expect(try await client.command(["GET", "absent"]) == .null)
        #expect(
            try await client.command(["EVAL", "return {1, 'two', {3}}", "0"])
                == .array([.integer(1), .string(Array("two".utf8)), .array([.integer(3)])]))
    }

    @Test func anErrorReplyIsThrownAndTheConnectionStaysUsable() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis)
        _ = try await client.command(["SET", "text", "x"])
        await #expect {
            _ = try await client.command(["INCR", "text"])
        } throws: { error in
            (error as? RedisError)?.code == .server && "\(error)".contains("not an integer")
        }
        #expect(try await client.command(["GET", "text"]).text == "x")
    }

    @Test func aPasswordAndADatabaseAreUsedAndAWrongPasswordIsAClearError() async throws {
        let redis = try RedisServerProcess(password: "s3cret")
        let right = Self.client(redis, password: "s3cret", database: 3)
        _ = try await right.command(["SET", "where", "db3"])
        #expect(try await Self.client(redis, password: "s3cret", database: 0).command(["GET", "where"]) == .null)
        #expect(try await Self.client(redis, password: "s3cret", database: 3).command(["GET", "where"]).text == "db3")
        for client in [Self.client(redis), Self.client(redis, password: "wrong")] {
            await #expect {
                _ = try await client.command(["PING"])
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .connect && error.message.contains("check the password") || error.code == .server
            }
        }
        #expect(RedisEndpoint(host: "h", password: "s3cret").description == "redis://***@h:6379/0")
    }

    @Test func aServerThatIsDownIsAConnectErrorAndARestartedOneIsUsedAgain() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis)
        _ = try await client.command(["SET", "k", "v"])
        redis.stop()
        await #expect {
            _ = try await client.command(["GET", "k"])
        } throws: { error in
            (error as? RedisError)?.code == .connect
        }
        try redis.start()
        // Nothing persisted, and the pool's broken connection is replaced.
        #expect(try await client.command(["GET", "k"]) == .null)
        #expect(try await client.command(["PING"]) == .status("PONG"))
    }
}
