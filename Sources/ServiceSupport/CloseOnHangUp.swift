import NIOCore

/// Closes a connection whose client stopped sending (TCP FIN or TLS close_notify). Hummingbird keeps such a
/// connection half-open, so a request still being worked on would never learn its client is gone; closed, the
/// channel's close future fires and ``KilnRequestContext/cancellingOnDisconnect(_:)`` stops the work. HTTP/1.1
/// clients (sccache's among them) never half-close while waiting for an answer.
public final class CloseOnHangUp: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    public typealias InboundIn = NIOAny

    public init() {}

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
