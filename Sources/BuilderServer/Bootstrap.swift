import Glibc
import KilnMetrics
import Logging
import Metrics
import Prometheus
import ServiceSupport

/// Process-wide set-up, done once, here only.
enum Bootstrap {
    static func logger(label: String, level: String) -> Logger {
        LoggingSystem.bootstrap { StandardErrorLogHandler(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: level) ?? .info
        return logger
    }

    /// Raises the soft limit of open descriptors to the hard one (systemd's default soft limit is 1,024: a thousand
    /// idle connections would leave a server no descriptor for real work), and says so.
    static func raiseDescriptorLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            logger.info("raised the open-descriptor limit", metadata: ["from": "\(before)", "to": "\(limit.rlim_max)"])
        } else {
            logger.warning(
                "cannot raise the open-descriptor limit", metadata: ["limit": "\(before)", "error": "\(String(cString: strerror(errno)))"])
        }
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
