import Foundation
import SchedulerCore

/// The data of the status page, served as JSON at `/api/v1/kiln/status`.
struct SchedulerStatusReport: Sendable, Codable {
    /// Something that went wrong recently, newest first on the page.
    struct Failure: Sendable, Codable, Hashable {
        /// ISO 8601, UTC.
        var at: String
        var what: String
        var server: String?
    }

    /// ISO 8601, UTC.
    var generatedAt: String
    var farm: FarmOverview
    var jobsInFlight: Int
    var recentFailures: [Failure]
}

/// The last few failures, oldest dropped first.
struct RecentFailures: Sendable {
    static let kept = 20
    private(set) var newestFirst: [SchedulerStatusReport.Failure] = []

    mutating func record(_ what: String, server: String? = nil, at date: Date = Date()) {
        newestFirst.insert(.init(at: date.formatted(.iso8601), what: what, server: server), at: 0)
        if newestFirst.count > Self.kept { newestFirst.removeLast(newestFirst.count - Self.kept) }
    }
}
