/// How a server's listeners treat connections (both servers' top-level keys).
///
/// | key | meaning |
/// |---|---|
/// | `connection_idle_timeout` | Kiln: seconds a connection may do nothing (no request, or one stalled halfway) before it is closed; default 60 |
/// | `max_connections` | Kiln: connections open at once per listener; one beyond is closed on arrival; default 16384 |
public struct ConnectionLimitsConfiguration: Sendable, Hashable {
    public var idleTimeoutSeconds = 60
    public var maxConnections = 16_384

    public init() {}

    init(reading reader: inout TOMLTableReader) throws {
        if let seconds = try reader.integer("connection_idle_timeout") {
            guard (1...86_400).contains(seconds) else {
                throw ConfigurationError(.invalidValue, key: "connection_idle_timeout", "expected seconds between 1 and 86400, got \(seconds)")
            }
            idleTimeoutSeconds = seconds
        }
        if let count = try reader.integer("max_connections") {
            guard (1...1_048_576).contains(count) else {
                throw ConfigurationError(.invalidValue, key: "max_connections", "expected between 1 and 1048576 connections, got \(count)")
            }
            maxConnections = count
        }
    }
}
