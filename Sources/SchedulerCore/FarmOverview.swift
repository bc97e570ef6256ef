import KilnProtocol

/// What the status page and `/api/v1/kiln/status` show of the farm, read off the state machine at one instant.
/// Plain numbers and strings, so it encodes to JSON as it is.
public struct FarmOverview: Sendable, Hashable, Codable {
    /// One registered build server.
    public struct Server: Sendable, Hashable, Codable {
        public var id: String
        public var cpus: Int
        /// The most jobs it is given at once.
        public var slots: Int
        /// Jobs assigned to it and not yet Complete.
        public var jobs: Int
        /// Of those, REAPI actions (the rest are sccache jobs).
        public var remoteActions: Int
        public var secondsSinceHeartbeat: Double
        /// Its last `assign_job` failed recently: it gets jobs only when no other server has room.
        public var quarantined: Bool
        /// Draining: it reports no CPUs, so it gets no new jobs.
        public var draining: Bool
        /// Toolchains it is known to hold (from `assign_job` answers and uploads), sorted.
        public var toolchains: [String]
    }

    public var servers: [Server]
    public var slotsBusy: Int
    public var slotsTotal: Int
    /// Jobs between `alloc_job` and Complete, by state (`assigning` while `assign_job` is in flight).
    public var jobsByState: [String: Int]
    /// The same jobs by who asked for them (``JobKind`` raw values; kinds with no job are listed with 0).
    public var jobsByKind: [String: Int]
    /// Distinct toolchains held across the farm.
    public var toolchains: Int

    public var jobsInFlight: Int { jobsByState.values.reduce(0, +) }
}

extension SchedulerStateMachine {
    /// The farm as it stands at `now` (after housekeeping, so the dead are gone).
    public mutating func overview(now: Instant) -> FarmOverview {
        housekeep(now: now)
        let load = jobsPerServer()
        let actions = jobs.values.reduce(into: [ServerID: Int]()) { counts, job in
            if job.kind == .remoteAction { counts[job.server, default: 0] += 1 }
        }
        let servers = self.servers.values.sorted { $0.id < $1.id }.map { server in
            FarmOverview.Server(
                id: "\(server.id)", cpus: server.numCPUs, slots: server.jobCap, jobs: load[server.id] ?? 0, remoteActions: actions[server.id] ?? 0,
                secondsSinceHeartbeat: Self.seconds(server.lastSeen.duration(to: now)), quarantined: server.lastError != nil,
                draining: server.numCPUs == 0, toolchains: server.toolchains.sorted())
        }
        let states = jobs.values.reduce(into: [String: Int]()) { counts, job in
            counts[job.state.map { "\($0)".lowercased() } ?? "assigning", default: 0] += 1
        }
        var kinds = Dictionary(uniqueKeysWithValues: JobKind.allCases.map { ($0.rawValue, 0) })
        for job in jobs.values { kinds[job.kind.rawValue, default: 0] += 1 }
        return FarmOverview(
            servers: servers, slotsBusy: servers.reduce(0) { $0 + min($1.jobs, $1.slots) }, slotsTotal: servers.reduce(0) { $0 + $1.slots },
            jobsByState: states, jobsByKind: kinds, toolchains: Set(servers.flatMap(\.toolchains)).count)
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
