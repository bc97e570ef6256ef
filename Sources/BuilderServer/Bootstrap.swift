import KilnMetrics
import Logging
import Metrics
import Prometheus
import ServiceSupport

/// Process-wide set-up, done once, here only.
enum Bootstrap {
    static func logger(label: String, level: String) -> Logger {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: level) ?? .info
        return logger
    }

    /// Makes Prometheus the metrics back end; the answer renders its text exposition for `/metrics`.
    static func metrics() -> MetricsExposition {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        for (name, buckets) in KilnMetricNames.histogramBuckets { factory.durationHistogramBuckets[name] = buckets }
        MetricsSystem.bootstrap(factory)
        return MetricsExposition { registry.emitToBuffer() }
    }
}
