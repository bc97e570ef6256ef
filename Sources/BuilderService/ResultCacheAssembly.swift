import BuilderCore
import KilnConfiguration
import KilnMetrics
import Logging
import RedisClient
import ResultCache

/// The builder's result cache as `[result_cache]` describes it: the disk tier, and the Redis tier behind it when
/// `shared_url` is set; its events go to the log and the metrics. Nil when the cache is off.
func makeResultCache(_ configuration: BuilderConfiguration, metrics: BuilderMetrics, logger: Logger) throws -> ResultCache? {
    let configured = configuration.resultCache
    guard configured.enabled else {
        logger.info("result cache off: every job runs")
        return nil
    }
    var settings = ResultCacheSettings(directory: configured.directory ?? configuration.cacheDirectory + "/results")
    settings.capacity = configured.sizeBytes
    settings.ttlSeconds = UInt64(configured.ttlSeconds)
    settings.failureTTLSeconds = UInt64(configured.failureTTLSeconds)
    settings.maxEntryBytes = configured.maxEntryBytes
    settings.readOnly = configured.readOnly
    let store = try ResultCacheStore(settings: settings)
    logger.info(
        "result cache \(settings.directory)\(settings.readOnly ? " (read-only)" : ""): \(store.entryCount) entries, \(store.totalBytes) of \(settings.capacity) bytes"
    )
    var shared: RedisResultTier?
    var sharedSettings = SharedTierSettings()
    if let address = configured.shared {
        let endpoint = RedisEndpoint(host: address.host, port: address.port, database: address.database, password: address.password)
        shared = RedisResultTier(client: RedisClient(endpoint: endpoint, timeout: .milliseconds(configured.sharedTimeoutMilliseconds)))
        sharedSettings.lease = .seconds(configured.sharedLeaseSeconds)
        sharedSettings.builderName = "\(configuration.publicAddress)"
        logger.info("result cache shared tier \(endpoint) (lease \(configured.sharedLeaseSeconds) s)")
    }
    return ResultCache(store: store, shared: shared, sharedSettings: sharedSettings) { event in
        switch event {
        case .lookup(let key, .corrupt(let reason)):
            logger.warning("result cache entry damaged, removed", metadata: ["key": "\(key)", "reason": "\(reason)"])
        case .lookup: break
        case .storeFailed(let key, let reason): logger.warning("result not stored", metadata: ["key": "\(key)", "error": "\(reason)"])
        case .shared(let event): report(event, metrics: metrics, logger: logger)
        }
    }
}

private func report(_ event: ResultCache.SharedEvent, metrics: BuilderMetrics, logger: Logger) {
    switch event {
    case .hit: metrics.countShared(.hit)
    case .miss: metrics.countShared(.miss)
    case .published: metrics.countShared(.publish)
    case .leaseWait:
        metrics.countShared(.leaseWait)
        logger.debug("another builder is building the same job: waiting for its result")
    case .damaged:
        metrics.countShared(.damaged)
        logger.warning("shared result cache entry failed verification; treated as a miss")
    case .failed(let reason, let first):
        metrics.countShared(.error)
        if first { logger.error("shared result cache unavailable; using the local tier until it answers again", metadata: ["error": "\(reason)"]) }
    case .recovered: logger.notice("shared result cache answers again; sharing resumes")
    }
}
