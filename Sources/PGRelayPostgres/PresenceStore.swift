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
            connection.query("select realtime.presence_set(\(channel), \(user), \(relay), \(id), \(status), \(meta)::jsonb)::text as diff"))
    }

    /// Removes one connection of `user` on `channel`, or (without relay and connection) all of them.
    @discardableResult
    public func drop(channel: String, user: String, relay: String? = nil, connection id: String? = nil) throws -> JSONValue? {
        try diff(connection.query("select realtime.presence_drop(\(channel), \(user), \(relay), \(id))::text as diff"))
    }

    /// Takes `user` offline on `channel`, or on every channel where it is online; returns the channels.
    public func offline(user: String, channel: String? = nil) throws -> [String] {
        let channels = try connection.query(
            "select distinct channel from realtime.presence_connections where user_id = \(user) and (\(channel)::text is null or channel = \(channel)) order by 1"
        ).map { try $0.decode("channel", as: String.self) }
        for name in channels { try drop(channel: name, user: user) }
        return channels
    }

    /// Presences, newest first: of one channel or all, one user or all, online only or with offline ones.
    public func presences(channel: String? = nil, user: String? = nil, onlineOnly: Bool = false) throws -> [Presence] {
        try connection.query(
            """
            select p.channel, p.user_id, p.status, p.meta::text as meta, p.online,
                   (select count(*) from realtime.presence_connections c where c.channel = p.channel and c.user_id = p.user_id) as connections,
                   to_char(case when p.online then clock_timestamp() else p.last_seen end at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as last_seen
              from realtime.presence p
             where (\(channel)::text is null or p.channel = \(channel)) and (\(user)::text is null or p.user_id = \(user))
               and (not \(onlineOnly)::boolean or p.online)
             order by p.channel, p.online desc, p.user_id
            """
        ).map { row in
            Presence(
                channel: try row.decode("channel"), user: try row.decode("user_id"), status: try row.decode("status"),
                meta: try JSONValue(parsing: try row.decode("meta", as: String.self)), online: try row.decode("online"),
                connections: try row.decode("connections"), lastSeen: try row.decode("last_seen")
            )
        }
    }

    /// Every connection's metadata on `channel`, by presence key (the user id), in the order they
    /// were tracked: what a Supabase client's `presence_state` lists.
    public func connectionMetas(channel: String) throws -> [(key: String, meta: JSONValue)] {
        try connection.query(
            "select user_id, meta::text as meta from realtime.presence_connections where channel = \(channel) order by user_id, updated_at, relay, connection"
        ).map { row in (try row.decode("user_id"), try JSONValue(parsing: try row.decode("meta", as: String.self))) }
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
                select (select count(*) from realtime.presence where online) as online,
                       (select count(*) from realtime.presence where not online) as offline,
                       (select count(*) from realtime.presence_connections) as connections,
                       (select count(distinct channel) from realtime.presence where online) as channels,
                       (select count(*) from realtime.relays where heartbeat_at >= clock_timestamp() - make_interval(secs => \(Self.expirySeconds))) as relays
                """
            )[0]
        return Statistics(
            online: try row.decode("online"), offline: try row.decode("offline"), connections: try row.decode("connections"),
            channels: try row.decode("channels"), relays: try row.decode("relays"))
    }

    /// Removes the presence of users offline for more than `seconds` (their last status and
    /// last-seen time), and the connections of relays that stopped beating. Returns how many presences.
    @discardableResult
    public func cleanup(offlineForSeconds seconds: Int64) throws -> Int {
        _ = try reap()
        return try connection.query(
            "delete from realtime.presence where not online and last_seen < clock_timestamp() - make_interval(secs => \(seconds)) returning 1"
        ).count
    }

    /// How many presences ``cleanup(offlineForSeconds:)`` would remove now.
    public func countOffline(forSeconds seconds: Int64) throws -> Int {
        try connection.query(
            "select count(*) from realtime.presence where not online and last_seen < clock_timestamp() - make_interval(secs => \(seconds))"
        )[0].decode("count")
    }

    // MARK: Relays

    /// Removes dead relays' presence connections (they leave); returns how many.
    @discardableResult
    public func reap(expirySeconds: Double = PresenceStore.expirySeconds) throws -> Int {
        try connection.query("select realtime.presence_reap(\(expirySeconds)) as reaped")[0].decode("reaped")
    }

    private func diff(_ rows: [Row]) throws -> JSONValue? {
        guard let text = try rows.first?.decode("diff", as: String?.self) else { return nil }
        return try JSONValue(parsing: text)
    }
}
