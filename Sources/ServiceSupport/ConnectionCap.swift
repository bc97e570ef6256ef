import NIOCore
import Synchronization

/// Counts a listener's open connections and closes each one accepted beyond the cap at once, so that a flood of
/// connections cannot take the descriptors the server needs for its own work (toolchains, sandboxes, its calls to
/// the scheduler). One instance per listener, shared by the handlers of all its connections.
public final class ConnectionCap: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    /// The handler to put in each connection's pipeline.
    public func handler() -> Handler { Handler(cap: self) }

    /// Counts its connection while it is in the pipeline.
    public final class Handler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        public typealias InboundIn = NIOAny
        private let cap: ConnectionCap
        private let counted = Atomic<Bool>(false)

        init(cap: ConnectionCap) { self.cap = cap }

        public func handlerAdded(context: ChannelHandlerContext) {
            guard cap.open.wrappingAdd(1, ordering: .relaxed).newValue > cap.limit else {
                counted.store(true, ordering: .relaxed)
                return
            }
            cap.open.wrappingSubtract(1, ordering: .relaxed)
            context.close(promise: nil)
        }

        public func handlerRemoved(context: ChannelHandlerContext) {
            if counted.exchange(false, ordering: .relaxed) { cap.open.wrappingSubtract(1, ordering: .relaxed) }
        }
    }
}
