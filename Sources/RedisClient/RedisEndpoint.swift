/// Where a Redis server is and how to log in to it.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    /// Sent with `AUTH` after connecting; nil: no `AUTH`.
    public var password: String?

    public init(host: String, port: Int = 6379, database: Int = 0, password: String? = nil) {
        (self.host, self.port, self.database, self.password) = (host, port, database, password)
    }

    /// The URL without its password, for logs.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "redis://\(password == nil ? "" : "***@")\(host):\(port)/\(database)"
    }
}
