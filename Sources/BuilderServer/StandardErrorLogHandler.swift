import Logging

/// swift-log's `StreamLogHandler` on standard error, with the handler's metadata formatted only when a line is
/// written. `StreamLogHandler` formats all of its metadata each time one key is set, and Hummingbird sets one on
/// every request (`hb.request.id`): a server at the info level paid for a text it almost never wrote (2–3% of the
/// scheduler's CPU per job in a profile). The lines written are the same.
struct StandardErrorLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(label: String) {
        stream = .standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        // The event's own metadata wins over the handler's, as in StreamLogHandler.
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit } }
        stream.log(event: event)
    }
}
