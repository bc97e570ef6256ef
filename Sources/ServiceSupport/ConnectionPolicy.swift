import HummingbirdCore
import NIOCore

/// What a listener allows its connections: how long one may do nothing (no request, an idle keep-alive, or a request
/// or TLS handshake stalled halfway; a request being handled, a compile of ten minutes, never counts as idle), and
/// how many may be open at once. Without them, a thousand silent connections held every descriptor a server had.
/// Set by `connection_idle_timeout` and `max_connections` in both servers' files.
public struct ConnectionPolicy: Sendable {
    public let idleTimeout: TimeAmount
    public let cap: ConnectionCap

    /// One policy per listener: the cap counts that listener's connections.
    public init(idleTimeoutSeconds: Int, maxConnections: Int) {
        idleTimeout = .seconds(Int64(idleTimeoutSeconds))
        cap = ConnectionCap(limit: maxConnections)
    }

    /// Hummingbird's HTTP/1.1 settings with the idle timeout, the connection cap and `handlers` after the HTTP decoder.
    public func http1(handlers: @autoclosure @escaping @Sendable () -> [any RemovableChannelHandler] = []) -> HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(additionalChannelHandlers: [cap.handler()] + handlers(), idleTimeout: idleTimeout)
    }
}
