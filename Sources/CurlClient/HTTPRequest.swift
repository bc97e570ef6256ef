/// One outbound HTTP/1.1 request. Every request has a deadline and a bound on the answer's size.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST", put = "PUT", delete = "DELETE", head = "HEAD" }

    public var method: Method
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// The whole exchange must finish within this many seconds.
    public var timeoutSeconds: Int
    /// The connection must be made within this many seconds.
    public var connectTimeoutSeconds: Int
    /// Answers larger than this fail with ``CurlError/Code/tooLarge``.
    public var maxResponseBytes: Int
    /// For HTTPS: the only certificate (PEM) trusted, a self-signed server certificate or its CA. Nil uses the
    /// system roots.
    public var pinnedCertificatePEM: [UInt8]?
    /// Talk HTTP over this unix socket (the Docker engine) instead of TCP.
    public var unixSocketPath: String?
    /// Stream the body from this file instead of `body` (large uploads never sit in memory).
    public var bodyFilePath: String?
    /// Keep the connection open for the next request to the same origin (HTTP keep-alive), and use one kept
    /// open by an earlier request. Only for peers known to handle keep-alive; the others get `Connection: close`.
    public var reusesConnection = false

    public init(
        method: Method, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeoutSeconds: Int = 30, connectTimeoutSeconds: Int = 5, maxResponseBytes: Int = 64 << 20,
        pinnedCertificatePEM: [UInt8]? = nil, unixSocketPath: String? = nil, bodyFilePath: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.maxResponseBytes = maxResponseBytes
        self.pinnedCertificatePEM = pinnedCertificatePEM
        self.unixSocketPath = unixSocketPath
        self.bodyFilePath = bodyFilePath
    }
}

/// The answer: status, headers (names lower-cased) and body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The request went over a connection an earlier request had opened (``HTTPRequest/reusesConnection``).
    public var reusedConnection = false

    public func header(_ name: String) -> String? {
        headers.first { $0.0 == name.lowercased() }?.1
    }
}
