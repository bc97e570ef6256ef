import Glibc
import KilnMetrics
import Logging
import Metrics
import NIOCore
import NIOPosix
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

    /// Runs the process's Swift tasks on NIO's event-loop threads instead of on a thread pool of their own. A
    /// scheduler does little but network handling, and each request otherwise hops from its event loop to the pool
    /// and back: 13 context switches per REAPI unary call against 2.6 this way, and about 40% less of the
    /// scheduler's CPU per call (README, "Speed"). Blocking work runs on ``BlockingWork``'s threads, as everywhere,
    /// so nothing holds a loop. NIO requires the main thread and a single call, before the tasks that matter start.
    static func runTasksOnEventLoops(logger: Logger) async {
        let installed = await MainActor.run { NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() }
        if !installed { logger.notice("Swift tasks keep their own thread pool: NIO's event loops could not take them") }
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
