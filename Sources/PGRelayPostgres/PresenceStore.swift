import Foundation
import PGRelayCore

/// Presence on named channels and the registry of relay instances (schema version 9): what the
/// relays and `pgrelay presence` read and change. Changes go through the database's functions
/// (`realtime.presence_set`, `presence_drop`, ...), which serialize each user's changes and
/// announce them to every relay; every value is a bound parameter.
public struct PresenceStore {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// The relay id `pgrelay presence track` uses: its connections never expire, they stay until
    /// `presence offline`.
    public static let cliRelay = "cli"
    /// Seconds without a heartbeat after which a relay is taken for dead and its presences leave.
    public static let expirySeconds = 30.0

    /// One connection of `user` tracks itself on `channel` (again: updates it). Returns the diff
    /// announced to the relays, or nil when nothing others see changed.
    @discardableResult
    public func track(channel: String, user: String, relay: String, connection id: String, status: String, meta: JSONValue) throws -> JSONValue? {
        try Channel.validate(name: channel)
        try MessageDraft.validate(user: user)
        try Presence.validate(status: status)
        guard case .object = meta else { throw ChannelError(description: "presence metadata must be a JSON object, such as {\"device\":\"phone\"}") }
        return try diff(
            connection.query("select realtime.presence_set($1, $2, $3, $4, $5, $6::jsonb)::text", [channel, user, relay, id, status, meta.jsonText]))
    }

    /// Removes one connection of `user` on `channel`, or (without relay and connection) all of them.
    @discardableResult
    public func drop(channel: String, user: String, relay: String? = nil, connection id: String? = nil) throws -> JSONValue? {
        try diff(connection.query("select realtime.presence_drop($1, $2, $3, $4)::text", [channel, user, relay, id]))
    }

    /// Takes `user` offline on `channel`, or on every channel where it is online; returns the channels.
    public func offline(user: String, channel: String? = nil) throws -> [String] {
        let channels = try connection.query(
            "select distinct channel from realtime.presence_connections where user_id = $1 and ($2::text is null or channel = $2) order by 1",
            [user, channel]
        ).compactMap { $0[0] }
        for name in channels { try drop(channel: name, user: user) }
        return channels
    }

    /// Presences, newest first: of one channel or all, one user or all, online only or with offline ones.
    public func presences(channel: String? = nil, user: String? = nil, onlineOnly: Bool = false) throws -> [Presence] {
        try connection.query(
            """
            select p.channel, p.user_id, p.status, p.meta::text, p.online,
                   (select count(*) from realtime.presence_connections c where c.channel = p.channel and c.user_id = p.user_id),
                   to_char(case when p.online then clock_timestamp() else p.last_seen end at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
              from realtime.presence p
             where ($1::text is null or p.channel = $1) and ($2::text is null or p.user_id = $2) and (not $3::boolean or p.online)
             order by p.channel, p.online desc, p.user_id
            """,
            [channel, user, onlineOnly ? "true" : "false"]
        ).map { row in
            Presence(
                channel: row[0] ?? "", user: row[1] ?? "", status: row[2] ?? "", meta: (try? JSONValue(parsing: row[3] ?? "{}")) ?? .object([]),
                online: row[4] == "t", connections: Int(row[5] ?? "0") ?? 0, lastSeen: row[6] ?? ""
            )
        }
    }

    /// Every connection's metadata on `channel`, by presence key (the user id), in the order they
    /// were tracked: what a Supabase client's `presence_state` lists.
    public func connectionMetas(channel: String) throws -> [(key: String, meta: JSONValue)] {
        try connection.query(
            "select user_id, meta::text from realtime.presence_connections where channel = $1 order by user_id, updated_at, relay, connection",
            [channel]
        ).compactMap { row in
            guard let key = row[0], let meta = row[1].flatMap({ try? JSONValue(parsing: $0) }) else { return nil }
            return (key, meta)
        }
    }

    /// Figures for `pgrelay presence stats`.
    public struct Statistics: Equatable, Sendable {
        public var online: Int
        public var offline: Int
        public var connections: Int
        public var channels: Int
        public var relays: Int
    }

    public func statistics() throws -> Statistics {
        let row =
            try connection.query(
                """
                select (select count(*) from realtime.presence where online), (select count(*) from realtime.presence where not online),
                       (select count(*) from realtime.presence_connections), (select count(distinct channel) from realtime.presence where online),
                       (select count(*) from realtime.relays where heartbeat_at >= clock_timestamp() - make_interval(secs => $1))
                """,
                [String(Self.expirySeconds)]
            ).first ?? []
        func int(_ i: Int) -> Int { row.indices.contains(i) ? Int(row[i] ?? "0") ?? 0 : 0 }
        return Statistics(online: int(0), offline: int(1), connections: int(2), channels: int(3), relays: int(4))
    }

    /// Removes the presence of users offline for more than `seconds` (their last status and
    /// last-seen time), and the connections of relays that stopped beating. Returns how many presences.
    @discardableResult
    public func cleanup(offlineForSeconds seconds: Int64) throws -> Int {
        _ = try reap()
        return try connection.query(
            "delete from realtime.presence where not online and last_seen < clock_timestamp() - make_interval(secs => $1) returning 1",
            [String(seconds)]
        ).count
    }

    /// How many presences ``cleanup(offlineForSeconds:)`` would remove now.
    public func countOffline(forSeconds seconds: Int64) throws -> Int {
        Int(
            try connection.query(
                "select count(*) from realtime.presence where not online and last_seen < clock_timestamp() - make_interval(secs => $1)",
                [String(seconds)]
            ).first?[0] ?? "0") ?? 0
    }

    // MARK: Relays

    /// Removes dead relays' presence connections (they leave); returns how many.
    @discardableResult
    public func reap(expirySeconds: Double = PresenceStore.expirySeconds) throws -> Int {
        Int(try connection.query("select realtime.presence_reap($1)", [String(expirySeconds)]).first?[0] ?? "0") ?? 0
    }

    private func diff(_ rows: [[String?]]) throws -> JSONValue? {
        guard let text = rows.first?[0] ?? nil else { return nil }
        return try JSONValue(parsing: text)
    }
}
