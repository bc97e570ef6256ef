import Hummingbird
import NIOCore

/// The request context of Kiln's servers: Hummingbird's basics plus the TCP peer, which the heartbeat address
/// check needs.
public struct KilnRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Completes when the client's connection is gone, so long work for it can stop.
    public let connectionClosed: EventLoopFuture<Void>

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        connectionClosed = source.channel.closeFuture
    }

    /// Runs `work` in a task that is cancelled when the client disconnects (or this task is cancelled).
    public func cancellingOnDisconnect<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await work() }
        connectionClosed.whenComplete { _ in task.cancel() }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// The peer's IP as raw octets (4 or 16), IPv4-mapped IPv6 folded to IPv4.
    public var peerIP: [UInt8]? {
        guard let address = remoteAddress?.ipAddress, var octets = WireHTTP.parseIP(address) else { return nil }
        if octets.count == 16, octets.prefix(10).allSatisfy({ $0 == 0 }), octets[10] == 0xFF, octets[11] == 0xFF {
            octets = Array(octets.suffix(4))
        }
        return octets
    }
}
