import HummingbirdCore
import NIOCore

/// How long the servers keep a connection that does nothing: no request (idle keep-alive, or nothing ever sent),
/// or a request or TLS handshake stalled halfway. A request being handled (a compile of ten minutes) never counts as
/// idle. Without it, a thousand silent connections held every descriptor a server had.
public enum ConnectionPolicy {
    public static let idleTimeout: TimeAmount = .seconds(60)

    /// Hummingbird's HTTP/1.1 settings with the idle timeout (and `handlers` after the HTTP decoder).
    public static func http1(handlers: @autoclosure @escaping @Sendable () -> [any RemovableChannelHandler] = []) -> HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(additionalChannelHandlers: handlers(), idleTimeout: idleTimeout)
    }
}
