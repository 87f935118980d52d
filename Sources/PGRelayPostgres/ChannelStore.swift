import Foundation
import PGRelayCore

/// Named channels and their members, in `realtime.channels` and `realtime.channel_members`.
/// Every value reaches SQL as a bound parameter.
public struct ChannelStore {
    let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// A channel as listed: its kind, options, member count, users online and when it was created.
    public struct Summary: Equatable, Sendable {
        public var channel: Channel
        public var members: Int
        public var createdAt: String
        public var online: Int = 0
    }

    public struct Member: Equatable, Sendable {
        public var user: String
        public var role: ChannelRole
        public var canSend: Bool
        public var joinedAt: String
    }

    public enum JoinResult: String, Sendable {
        case joined
        /// The user was a member already; its role is now the one given.
        case updated
    }

    public func create(_ channel: Channel) throws {
        try SchemaMigration(connection: connection).requireInitialized()
        let inserted = try connection.query(
            """
            insert into realtime.channels (name, type, options) values (\(channel.name), \(channel.kind.rawValue), \(channel.options.json)::jsonb)
            on conflict (name) do nothing returning 1
            """
        )
        guard !inserted.isEmpty else {
            throw ChannelError(description: "channel \(channel.name) exists; pgrelay channel get \(channel.name) shows it")
        }
    }

    /// Every channel, or those of one kind, by name.
    /// The type of every created channel, by name (for the relay's metrics).
    public func kinds() throws -> [String: ChannelKind] {
        var kinds: [String: ChannelKind] = [:]
        for row in try connection.query("select name, type from realtime.channels") {
            kinds[try row.decode("name")] = try row.decode("type", as: ChannelKind.self)
        }
        return kinds
    }

    public func list(kind: ChannelKind? = nil) throws -> [Summary] {
        try SchemaMigration(connection: connection).requireSchema(atLeast: SchemaMigration.presenceVersion, for: "listing channels")
        return try connection.query(
            """
            select c.name, c.type, c.options::text, (select count(*) from realtime.channel_members m where m.channel = c.name) as members,
                   to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created_at,
                   (select count(*) from realtime.presence p where p.channel = c.name and p.online) as online
              from realtime.channels c where \(kind?.rawValue)::text is null or c.type = \(kind?.rawValue) order by c.name
            """
        ).map { row in
            var found = Summary(channel: try channel(row), members: try row.decode("members"), createdAt: try row.decode("created_at"))
            found.online = try row.decode("online")
            return found
        }
    }

    public func get(_ name: String) throws -> Summary {
        try Channel.validate(name: name)
        guard let found = try list().first(where: { $0.channel.name == name }) else { throw unknown(name) }
        return found
    }

    /// Deletes a channel and its memberships. A channel that has members, or messages in the log,
    /// is kept unless `force`; its messages stay in the log (ids are never taken back) until cleanup.
    public func delete(_ name: String, force: Bool) throws {
        let found = try get(name)
        let hasMessages = try ChangeLog(connection: connection).hasMessages(on: name)
        if !force, found.members > 0 || hasMessages {
            var what: [String] = []
            if found.members > 0 { what.append("\(found.members) member\(found.members == 1 ? "" : "s")") }
            if hasMessages { what.append("messages in the log") }
            throw ChannelError(
                description:
                    "channel \(name) has \(what.joined(separator: " and ")); pgrelay channel delete \(name) --force deletes it anyway (its messages stay in the log until cleanup)"
            )
        }
        try connection.query("delete from realtime.channels where name = \(name)")
    }

    /// Sends a message to a created channel, in its own transaction. With a sender, the channel's
    /// rules apply (``Channel/requireSendable(by:role:canSend:)``); without one it is the operator's.
    /// Messages to a private or direct channel are marked private. An `ephemeral` one is not
    /// written to the log: the relays deliver it to the channel's subscribers connected now.
    public func send(_ draft: MessageDraft, ephemeral: Bool = false) throws {
        try SchemaMigration(connection: connection).requireSchema(
            atLeast: ephemeral ? SchemaMigration.ephemeralVersion : SchemaMigration.messagesVersion,
            for: ephemeral ? "ephemeral events" : "sending messages"
        )
        let found = try get(draft.channel)
        if let sender = draft.sender {
            let membership = try connection.query(
                "select role, can_send from realtime.channel_members where channel = \(draft.channel) and user_id = \(sender)"
            ).first
            try found.channel.requireSendable(
                by: sender, role: try membership?.decode("role", as: ChannelRole.self),
                canSend: try membership?.decode("can_send", as: Bool.self) ?? false
            )
        }
        if ephemeral {
            return try EphemeralLog(connection: connection).post(on: draft.channel, event: draft.event, payload: draft.payload, sender: draft.sender)
        }
        do {
            try ChangeLog(connection: connection).send(
                on: draft.channel, event: draft.event, payload: draft.payload, sender: draft.sender,
                isPrivate: found.channel.kind == .private || found.channel.kind == .direct
            )
        } catch let error as PostgresError where error.sqlState == SQLState.invalidParameterValue {
            throw ChannelError(description: Self.primary(error.message))
        }
    }

    /// Throws "does not exist" unless the channel was created or the log holds messages of it
    /// (sent from SQL to a topic nobody created, as Supabase's triggers do), or, with
    /// `orPresent`, someone's presence was tracked on it.
    public func requireKnown(_ name: String, orPresent: Bool = false) throws {
        try Channel.validate(name: name)
        try SchemaMigration(connection: connection).requireSchema(atLeast: SchemaMigration.messagesVersion, for: "channel messages")
        let known =
            try connection.query(
                """
                select exists (select 1 from realtime.channels where name = \(name))
                    or (\(orPresent)::boolean and exists (select 1 from realtime.presence where channel = \(name))) as known
                """
            )[0].decode("known", as: Bool.self)
        if !known, try !ChangeLog(connection: connection).hasMessages(on: name) { throw unknown(name) }
    }

    public func members(of name: String) throws -> [Member] {
        _ = try get(name)
        return try connection.query(
            """
            select user_id, role, can_send, to_char(joined_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as joined_at
              from realtime.channel_members where channel = \(name) order by joined_at, user_id
            """
        ).map { row in
            Member(
                user: try row.decode("user_id"), role: try row.decode("role"), canSend: try row.decode("can_send"),
                joinedAt: try row.decode("joined_at"))
        }
    }

    /// The users who are members of channel `name`, and the database time they are read as of
    /// (the statement's start, no later than its snapshot), in the form of the log's and the
    /// ephemeral events' timestamps, so that the two compare as text.
    public func memberUsers(of name: String) throws -> (users: Set<String>, asOf: String) {
        let row = try connection.query(
            """
            select to_char(statement_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as as_of,
                   coalesce((select json_agg(user_id) from realtime.channel_members where channel = \(name)), '[]')::text as users
            """
        )[0]
        let users = try JSONValue(parsing: try row.decode("users", as: String.self)).arrayValue?.compactMap(\.stringValue) ?? []
        return (Set(users), try row.decode("as_of"))
    }

    /// Adds `user` with `role`, or gives a member that role. Refused past `max_members`, and for
    /// a third member of a direct channel; the count is taken under a lock on the channel.
    @discardableResult
    public func join(_ name: String, user: String, role: ChannelRole = .member) throws -> JoinResult {
        _ = try get(name)
        try MessageDraft.validate(user: user)
        do {
            return try connection.query("select realtime.join_channel(\(name), \(user), \(role.rawValue)) as result")[0].decode("result")
        } catch let error as PostgresError where error.sqlState == SQLState.raiseException || error.sqlState == SQLState.noDataFound {
            throw ChannelError(description: Self.primary(error.message))
        }
    }

    /// Removes `user`; an error when it is not a member.
    public func leave(_ name: String, user: String) throws {
        _ = try get(name)
        let removed = try connection.query("delete from realtime.channel_members where channel = \(name) and user_id = \(user) returning 1")
        guard !removed.isEmpty else { throw ChannelError(description: "\(user) is not a member of channel \(name)") }
    }

    /// The channel called `name` (nil when nobody created it) and `user`'s membership of it, in one
    /// round trip: what the relay decides access by.
    public func lookup(_ name: String, user: String?) throws -> (channel: Channel?, membership: ChannelAccess.Membership?) {
        let row = try connection.query(
            """
            select c.name, c.type, c.options::text, m.role, m.can_send
              from (select \(name)::text as name) q
              left join realtime.channels c on c.name = q.name
              left join realtime.channel_members m on m.channel = q.name and m.user_id = \(user)
            """
        )[0]
        guard try row.decode("name", as: String?.self) != nil else { return (nil, nil) }
        let membership = try row.decodeIfPresent("role", as: ChannelRole.self).map {
            ChannelAccess.Membership(role: $0, canSend: try row.decode("can_send"))
        }
        return (try channel(row), membership)
    }

    /// Every channel `user` is a member of, with its membership.
    public func memberships(of user: String) throws -> [String: ChannelAccess.Membership] {
        var found: [String: ChannelAccess.Membership] = [:]
        for row in try connection.query("select channel, role, can_send from realtime.channel_members where user_id = \(user)") {
            found[try row.decode("channel")] = .init(role: try row.decode("role"), canSend: try row.decode("can_send"))
        }
        return found
    }

    /// The channel of a row with its `name`, `type` and `options`.
    private func channel(_ row: Row) throws -> Channel {
        try Channel(name: row.decode("name"), kind: ChannelKind(parsing: row.decode("type")), options: ChannelOptions(parsing: row.decode("options")))
    }

    private func unknown(_ name: String) -> ChannelError {
        ChannelError(description: "channel \(name) does not exist; pgrelay channel create \(name) makes it")
    }

    /// The first line of a server error without its `ERROR:` prefix.
    public static func primary(_ message: String) -> String {
        let line = message.split(separator: "\n").first.map(String.init) ?? message
        return line.hasPrefix("ERROR:") ? line.dropFirst("ERROR:".count).trimmingCharacters(in: .whitespaces) : line
    }
}
