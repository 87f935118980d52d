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
        try connection.query(
            "select realtime.relay_beat($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::text[], $11)",
            [
                beat.relay, beat.host, String(beat.pid), beat.port.map(String.init), beat.version, String(beat.expirySeconds),
                beat.deliveredID.map(String.init), String(beat.connectionCount), JSONValue.array(beat.upserts.map(\.relayBeatJSON)).jsonText,
                ChangeLog.textArray(beat.removed), beat.fullSet ? "true" : "false",
            ]
        ).first?[0] == "t"
    }

    /// A relay that stops: its presences leave, its connections and its registration go.
    public func leave(relay: String) throws {
        try connection.query("select realtime.relay_leave($1)", [relay])
    }

    /// Every registered relay, oldest first; gone ones too, until cleanup.
    public func relays() throws -> [RelayInstance] {
        try connection.query(
            """
            select id, host, pid, port, version,
                   to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   to_char(heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   extract(epoch from clock_timestamp() - heartbeat_at), expiry_seconds, delivered_id, connections, \(Self.gone("r"))
              from realtime.relays r order by started_at, id
            """
        ).map { row in
            RelayInstance(
                id: row[0] ?? "", host: row[1] ?? "", pid: row[2].flatMap { Int($0) }, port: row[3].flatMap { Int($0) }, version: row[4] ?? "",
                startedAt: row[5] ?? "", heartbeatAt: row[6] ?? "", heartbeatAge: row[7].flatMap { Double($0) } ?? 0,
                expirySeconds: row[8].flatMap { Double($0) } ?? 30, deliveredID: row[9].flatMap { Int64($0) },
                connections: row[10].flatMap { Int($0) } ?? 0,
                gone: row[11] == "t"
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
            select c.relay, coalesce(\(Self.gone("r")), true),
                   c.id, c.user_id, c.transport, c.remote, c.user_agent, array_to_json(c.subscriptions)::text, array_to_json(c.channels)::text,
                   extract(epoch from c.connected_at), extract(epoch from c.last_seen)
              from realtime.relay_connections c left join realtime.relays r on r.id = c.relay
             where ($1::text is null or c.user_id = $1) and ($2::text is null or $2 = any(c.channels))
             order by c.connected_at, c.relay, c.id
            """,
            [user, channel]
        ).map { row in
            func strings(_ text: String?) -> [String] { ((try? JSONValue(parsing: text ?? "[]"))?.arrayValue ?? []).compactMap(\.stringValue) }
            return Listed(
                relay: row[0] ?? "", relayGone: row[1] == "t",
                connection: RelayConnection(
                    id: row[2] ?? "", user: row[3], transport: RelayConnection.Transport(rawValue: row[4] ?? "") ?? .sse, remote: row[5] ?? "",
                    userAgent: row[6] ?? "", subscriptions: strings(row[7]), channels: strings(row[8]),
                    connectedAt: Date(timeIntervalSince1970: row[9].flatMap { Double($0) } ?? 0),
                    lastSeen: Date(timeIntervalSince1970: row[10].flatMap { Double($0) } ?? 0)
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
                "select (select count(*) from realtime.relays r where \(gone)), (select count(*) from realtime.relay_connections c where \(orphan))"
            ).first
            return (Int(row?[0] ?? "0") ?? 0, Int(row?[1] ?? "0") ?? 0)
        }
        return try connection.transaction {
            let relays = try connection.query("delete from realtime.relays r where \(gone) returning 1").count
            let connections = try connection.query("delete from realtime.relay_connections c where \(orphan) returning 1").count
            return (relays, connections)
        }
    }
}
