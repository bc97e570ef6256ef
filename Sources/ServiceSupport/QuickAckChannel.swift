import HummingbirdCore
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Acknowledges every segment a client sends at once (`TCP_QUICKACK` after each read) instead of after the
/// kernel's delayed-ACK timer.
///
/// sccache's clients write with Nagle's algorithm on: after the TLS handshake they send their Finished message and
/// hold the request itself until that message is acknowledged. A server that has nothing to say at that moment
/// (Kiln's TLS stack sends no session ticket there) lets the kernel delay the ACK by 40 ms, and every run_job
/// waited that long before its first byte arrived. Measured with tcpdump on loopback: 44 ms per connection.
final class QuickAckHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.tcpOption(.init(rawValue: TCP_QUICKACK)), value: 1)
        context.fireChannelRead(data)
    }
}

/// A server child channel whose pipeline starts with ``QuickAckHandler``, before the base channel's own handlers
/// (TLS and HTTP).
public struct QuickAckChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value
    let base: Base

    public init(_ base: Base) { self.base = base }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(QuickAckHandler())
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}
