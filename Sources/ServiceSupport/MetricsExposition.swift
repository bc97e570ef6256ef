import Hummingbird

/// The text exposition of the process's metrics, rendered by whatever back end the executable bootstrapped
/// (services know nothing of Prometheus). `refresh` runs first, to set the gauges that are read off state.
public struct MetricsExposition: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let render: @Sendable () -> [UInt8]

    public init(render: @escaping @Sendable () -> [UInt8]) {
        self.render = render
    }

    /// `GET /metrics` on `router`.
    public func register(on router: Router<KilnRequestContext>, refresh: @escaping @Sendable () async -> Void) {
        router.get("metrics") { _, _ in
            await refresh()
            return WireHTTP.response(.ok, body: render(), type: Self.contentType)
        }
    }
}
