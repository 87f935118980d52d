/// One relay instance as `realtime.relays` has it: where it runs, its heartbeat, how far it
/// has delivered. One that stopped beating for longer than its expiry is gone (it stays listed
/// until `pgrelay cleanup`).
public struct RelayInstance: Equatable, Sendable {
    public var id: String
    public var host: String
    public var pid: Int?
    public var port: Int?
    public var version: String
    /// UTC, `2026-12-05T10:00:00Z`.
    public var startedAt: String
    public var heartbeatAt: String
    /// Seconds since its last heartbeat.
    public var heartbeatAge: Double
    public var expirySeconds: Double
    /// The newest id its listener has delivered (its position in the log).
    public var deliveredID: Int64?
    public var connections: Int
    public var gone: Bool

    public init(
        id: String, host: String, pid: Int?, port: Int?, version: String, startedAt: String, heartbeatAt: String, heartbeatAge: Double,
        expirySeconds: Double, deliveredID: Int64?, connections: Int, gone: Bool
    ) {
        self.id = id
        self.host = host
        self.pid = pid
        self.port = port
        self.version = version
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.heartbeatAge = heartbeatAge
        self.expirySeconds = expirySeconds
        self.deliveredID = deliveredID
        self.connections = connections
        self.gone = gone
    }

    /// How far behind the newest id it is: in ids, and in seconds (since the commit of the oldest
    /// change it has not delivered; 0 when it has delivered everything).
    public struct Lag: Equatable, Sendable {
        public var ids: Int64
        public var seconds: Double

        public init(ids: Int64, seconds: Double) {
            self.ids = ids
            self.seconds = seconds
        }
    }
}
