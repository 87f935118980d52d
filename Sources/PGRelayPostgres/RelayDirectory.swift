import Foundation
import PGRelayCore

/// The relay instances of a database and their client connections (`realtime.relays`,
/// `realtime.relay_connections`): what each relay writes at its heartbeat, and what `pgrelay
/// status`, `connections` and `cleanup` read.
public struct RelayDirectory {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// One heartbeat of a relay.
    public struct Beat: Sendable {
        public var relay: String
        public var host: String
        public var pid: Int32
        public var port: Int?
        public var version: String
        public var expirySeconds: Double
        public var deliveredID: Int64?
        public var connectionCount: Int
        /// New or changed connections since the last beat, and the ids of those that closed.
        public var upserts: [RelayConnection]
        public var removed: [String]
        /// The connections are the whole set: the relay's rows are replaced.
        public var fullSet: Bool

        public init(
            relay: String, host: String, pid: Int32, port: Int?, version: String, expirySeconds: Double, deliveredID: Int64?, connectionCount: Int,
            upserts: [RelayConnection], removed: [String], fullSet: Bool
        ) {
            self.relay = relay
            self.host = host
            self.pid = pid
            self.port = port
            self.version = version
            self.expirySeconds = expirySeconds
            self.deliveredID = deliveredID
            self.connectionCount = connectionCount
            self.upserts = upserts
            self.removed = removed
            self.fullSet = fullSet
        }
    }

    /// Writes a heartbeat in one statement; true when the relay was new or taken for gone
    /// meanwhile (it should track its presences again and send its whole connection set).
    @discardableResult
    public func beat(_ beat: Beat) throws -> Bool {
        let upserts = JSONValue.array(beat.upserts.map(\.relayBeatJSON))
        return try connection.query(
            """
            select realtime.relay_beat(\(beat.relay), \(beat.host), \(beat.pid), \(beat.port), \(beat.version), \(beat.expirySeconds),
                                       \(beat.deliveredID), \(beat.connectionCount), \(upserts)::jsonb, \(array: beat.removed)::text[],
                                       \(beat.fullSet)) as fresh
            """
        )[0].decode("fresh")
    }

    /// A relay that stops: its presences leave, its connections and its registration go.
    public func leave(relay: String) throws {
        try connection.query("select realtime.relay_leave(\(relay))")
    }

    /// Every registered relay, oldest first; gone ones too, until cleanup.
    public func relays() throws -> [RelayInstance] {
        try connection.query(
            """
            select id, host, pid, port, version,
                   to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as started_at,
                   to_char(heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as heartbeat_at,
                   extract(epoch from clock_timestamp() - heartbeat_at)::float8 as heartbeat_age, expiry_seconds::float8, delivered_id,
                   connections, \(unescaped: Self.gone("r")) as gone
              from realtime.relays r order by r.started_at, r.id
            """
        ).map { row in
            RelayInstance(
                id: try row.decode("id"), host: try row.decode("host"), pid: try row.decode("pid"), port: try row.decode("port"),
                version: try row.decode("version"), startedAt: try row.decode("started_at"), heartbeatAt: try row.decode("heartbeat_at"),
                heartbeatAge: try row.decode("heartbeat_age"), expirySeconds: try row.decode("expiry_seconds"),
                deliveredID: try row.decode("delivered_id"), connections: try row.decode("connections"), gone: try row.decode("gone")
            )
        }
    }

    /// A published connection and the relay that holds it.
    public struct Listed: Equatable, Sendable {
        public var relay: String
        public var relayGone: Bool
        public var connection: RelayConnection
    }

    /// Every relay's connections as last published, optionally of one user or reading one channel.
    public func connections(user: String? = nil, channel: String? = nil) throws -> [Listed] {
        try connection.query(
            """
            select c.relay, coalesce(\(unescaped: Self.gone("r")), true) as relay_gone,
                   c.id, c.user_id, c.transport, c.remote, c.user_agent,
                   coalesce(array_to_json(c.subscriptions), '[]')::text as subscriptions, coalesce(array_to_json(c.channels), '[]')::text as channels,
                   extract(epoch from c.connected_at)::float8 as connected_at, extract(epoch from c.last_seen)::float8 as last_seen
              from realtime.relay_connections c left join realtime.relays r on r.id = c.relay
             where (\(user)::text is null or c.user_id = \(user)) and (\(channel)::text is null or \(channel) = any(c.channels))
             order by c.connected_at, c.relay, c.id
            """
        ).map { row in
            func strings(_ column: String) throws -> [String] {
                (try JSONValue(parsing: try row.decode(column, as: String.self)).arrayValue ?? []).compactMap(\.stringValue)
            }
            let transport: String = try row.decode("transport")
            guard let known = RelayConnection.Transport(rawValue: transport) else {
                throw RowDecodingError(column: "transport", problem: "\"\(transport)\" is not a transport pgrelay knows")
            }
            return Listed(
                relay: try row.decode("relay"), relayGone: try row.decode("relay_gone"),
                connection: RelayConnection(
                    id: try row.decode("id"), user: try row.decode("user_id"), transport: known, remote: try row.decode("remote"),
                    userAgent: try row.decode("user_agent"), subscriptions: try strings("subscriptions"), channels: try strings("channels"),
                    connectedAt: Date(timeIntervalSince1970: try row.decode("connected_at")),
                    lastSeen: Date(timeIntervalSince1970: try row.decode("last_seen"))
                )
            )
        }
    }

    /// Whether the relay row `alias` is gone: marked so, or silent for longer than its own expiry
    /// (before any relay's reaper marked it).
    static func gone(_ alias: String) -> String {
        "(\(alias).gone or \(alias).heartbeat_at < clock_timestamp() - make_interval(secs => \(alias).expiry_seconds))"
    }

    /// Removes the relays gone past their expiry and every connection row of a relay that is gone
    /// or no longer registered; with `dryRun`, only counts them. Returns (relays, connections).
    public func removeGone(dryRun: Bool) throws -> (relays: Int, connections: Int) {
        let gone = Self.gone("r")
        let orphan = "not exists (select 1 from realtime.relays r where r.id = c.relay and not \(gone))"
        if dryRun {
            let row = try connection.query(
                """
                select (select count(*) from realtime.relays r where \(unescaped: gone)) as relays,
                       (select count(*) from realtime.relay_connections c where \(unescaped: orphan)) as connections
                """
            )[0]
            return (try row.decode("relays"), try row.decode("connections"))
        }
        return try connection.transaction {
            let relays = try connection.query("delete from realtime.relays r where \(unescaped: gone) returning 1").count
            let connections = try connection.query("delete from realtime.relay_connections c where \(unescaped: orphan) returning 1").count
            return (relays, connections)
        }
    }
}
