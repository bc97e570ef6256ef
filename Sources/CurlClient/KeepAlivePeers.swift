import Synchronization

/// The peers known to handle HTTP keep-alive. sccache's own servers are answered with `Connection: close` (their
/// HTTP stack is only trusted with one request per connection), so a connection is kept only for a peer whose
/// answer named a server known to keep connections well (Kiln's, in its `Server` header).
public final class KeepAlivePeers: Sendable {
    /// The `Server` header value that marks a peer as one that keeps connections.
    public let serverName: String
    private let known = Mutex<Set<String>>([])

    public init(serverName: String) { self.serverName = serverName }

    /// Whether requests to `peer` may keep their connection.
    public func keepsAlive(_ peer: String) -> Bool { known.withLock { $0.contains(peer) } }

    /// Learns from an answer of `peer` whether it keeps connections (a peer may be replaced by another program).
    public func learn(from response: HTTPResponse, of peer: String) {
        let keeps = response.header("server") == serverName
        known.withLock { peers in
            if keeps { peers.insert(peer) } else { peers.remove(peer) }
        }
    }
}
