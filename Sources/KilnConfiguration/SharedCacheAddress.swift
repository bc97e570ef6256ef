/// The Redis server of `[result_cache] shared_url`: `redis://[[user]:password@]host[:port][/db]`, where host may
/// be a name, an IPv4 address or a bracketed IPv6 address. The port defaults to 6379, the database to 0.
public struct SharedCacheAddress: Sendable, Hashable {
    public var host: String
    public var port = 6379
    public var database = 0
    /// From the URL, unless `shared_password` is set.
    public var password: String?

    public init(host: String, port: Int = 6379, database: Int = 0, password: String? = nil) {
        (self.host, self.port, self.database, self.password) = (host, port, database, password)
    }

    /// The address in `url`, or nil when it is not a `redis://` URL with a host, a port in 1–65535 and a database
    /// number.
    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            password = credentials.count == 2 && !credentials[1].isEmpty ? String(credentials[1]) : nil
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            guard let number = path.isEmpty ? 0 : Int(path), number >= 0 else { return nil }
            database = number
            rest = rest[..<slash]
        }
        var hostPart = rest
        var portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portPart = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        }
        if let portPart {
            guard let number = Int(portPart), (1...65535).contains(number) else { return nil }
            port = number
        }
        guard !hostPart.isEmpty, !hostPart.contains("/") else { return nil }
        host = String(hostPart)
    }
}
