import Foundation
import TOMLKit

/// What a configuration file configures.
public enum KilnConfigurationFile: Sendable, Hashable {
    case scheduler(SchedulerConfiguration)
    case builder(BuilderConfiguration)
}

/// Loads sccache-dist and Kiln configuration files (TOML). Unknown keys, wrong types and bad addresses are errors
/// naming the key.
public enum ConfigurationLoader {
    public static func loadScheduler(path: String) throws -> SchedulerConfiguration {
        var reader = try document(path: path)
        let configuration = try SchedulerConfiguration(reading: &reader)
        try reader.finish()
        return configuration
    }

    public static func loadBuilder(path: String) throws -> BuilderConfiguration {
        var reader = try document(path: path)
        let configuration = try BuilderConfiguration(reading: &reader)
        try reader.finish()
        return configuration
    }

    public static func parseScheduler(_ text: String) throws -> SchedulerConfiguration {
        var reader = try document(text: text)
        let configuration = try SchedulerConfiguration(reading: &reader)
        try reader.finish()
        return configuration
    }

    public static func parseBuilder(_ text: String) throws -> BuilderConfiguration {
        var reader = try document(text: text)
        let configuration = try BuilderConfiguration(reading: &reader)
        try reader.finish()
        return configuration
    }

    /// Loads either kind, told apart by their required keys (`builder` for a build server, `client_auth` for a
    /// scheduler).
    public static func load(path: String) throws -> KilnConfigurationFile {
        let reader = try document(path: path)
        if reader.has("builder") { return .builder(try loadBuilder(path: path)) }
        if reader.has("client_auth") || reader.has("server_auth") { return .scheduler(try loadScheduler(path: path)) }
        throw ConfigurationError(
            .missingKey, key: "", "\(path) is neither a build-server config (it has no [builder]) nor a scheduler config (it has no [client_auth])")
    }

    static func document(path: String) throws -> TOMLTableReader {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(.unreadable, key: "", "cannot read \(path): check the path and its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(.unreadable, key: "", "\(path) is not UTF-8 text")
        }
        return try document(text: text)
    }

    static func document(text: String) throws -> TOMLTableReader {
        do {
            return TOMLTableReader(try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            throw ConfigurationError(
                .syntax, key: "", "not valid TOML: \(error.description) at line \(error.source.begin.line), column \(error.source.begin.column)",
                underlying: error)
        }
    }
}
