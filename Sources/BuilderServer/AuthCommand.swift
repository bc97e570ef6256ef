import ArgumentParser
import KilnAuth
import KilnConfiguration
import KilnProtocol

/// `builder-server auth …`: sccache-dist's token commands, with the same outputs (protocol §6.4).
struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth", abstract: "Make keys and tokens for scheduler and build-server authentication.",
        subcommands: [GenerateKey.self, GenerateServerToken.self, GenerateSharedToken.self])

    struct GenerateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate-jwt-hs256-key", abstract: "Print a new server_auth.secret_key for jwt_hs256.")
        func run() { print(SecretGenerator.hs256Key()) }
    }

    struct GenerateServerToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate-jwt-hs256-server-token", abstract: "Print a build server's jwt_token.")

        @Option(help: "The build server's public_addr, ip:port.") var server: String
        @Option(help: "The scheduler's secret_key.") var secretKey: String?
        @Option(help: "A scheduler config whose server_auth is jwt_hs256.") var config: String?

        func run() async throws {
            guard let serverID = ServerID(server) else { throw ValidationError("--server must be ip:port, not '\(server)'") }
            let key: [UInt8]
            switch (secretKey, config) {
            case (let text?, nil):
                key = try SecretGenerator.decodeHS256Key(text)
            case (nil, let path?):
                guard case .jwtHS256(let secret) = try ConfigurationLoader.loadScheduler(path: path).serverAuth else {
                    throw ValidationError("\(path): server_auth.type must be \"jwt_hs256\" to make server tokens")
                }
                key = secret
            default:
                throw ValidationError("give exactly one of --secret-key or --config")
            }
            print(try await HS256Authority(key: key).serverToken(for: serverID.description))
        }
    }

    struct GenerateSharedToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate-shared-token", abstract: "Print a random token for token auth.")
        @Option(help: "Bits of randomness: a multiple of 8 from 64 to 4096.") var bits: Int = 256
        func run() throws { print(try SecretGenerator.sharedToken(bits: bits)) }
    }
}
