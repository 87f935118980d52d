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
        try Installer(connection: connection).requireInitialized()
        let inserted = try connection.query(
            "insert into realtime.channels (name, type, options) values ($1, $2, $3::jsonb) on conflict (name) do nothing returning 1",
            [channel.name, channel.kind.rawValue, channel.options.json.jsonText]
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
            if let name = row[0], let kind = row[1].flatMap(ChannelKind.init(rawValue:)) { kinds[name] = kind }
        }
        return kinds
    }

    public func list(kind: ChannelKind? = nil) throws -> [Summary] {
        try Installer(connection: connection).requireSchema(atLeast: Installer.presenceVersion, for: "listing channels")
        return try connection.query(
            """
            select c.name, c.type, c.options::text, (select count(*) from realtime.channel_members m where m.channel = c.name),
                   to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   (select count(*) from realtime.presence p where p.channel = c.name and p.online)
              from realtime.channels c where $1::text is null or c.type = $1 order by c.name
            """,
            [kind?.rawValue]
        ).map { row in
            var found = try summary(row)
            found.online = Int(row[5] ?? "0") ?? 0
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
        try connection.query("delete from realtime.channels where name = $1", [name])
    }

    /// Sends a message to a created channel, in its own transaction. With a sender, the channel's
    /// rules apply (``Channel/requireSendable(by:role:canSend:)``); without one it is the operator's.
    /// Messages to a private or direct channel are marked private. An `ephemeral` one is not
    /// written to the log: the relays deliver it to the channel's subscribers connected now.
    public func send(_ draft: MessageDraft, ephemeral: Bool = false) throws {
        try Installer(connection: connection).requireSchema(
            atLeast: ephemeral ? Installer.ephemeralVersion : Installer.messagesVersion, for: ephemeral ? "ephemeral events" : "sending messages"
        )
        let found = try get(draft.channel)
        if let sender = draft.sender {
            let membership = try connection.query(
                "select role, can_send from realtime.channel_members where channel = $1 and user_id = $2", [draft.channel, sender]
            ).first
            try found.channel.requireSendable(
                by: sender, role: membership.flatMap { ChannelRole(rawValue: $0[0] ?? "") }, canSend: membership?[1] == "t"
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
        try Installer(connection: connection).requireSchema(atLeast: Installer.messagesVersion, for: "channel messages")
        let known =
            try connection.query(
                """
                select exists (select 1 from realtime.channels where name = $1)
                    or ($2::boolean and exists (select 1 from realtime.presence where channel = $1))
                """,
                [name, orPresent ? "true" : "false"]
            ).first?[0] == "t"
        if !known, try !ChangeLog(connection: connection).hasMessages(on: name) { throw unknown(name) }
    }

    public func members(of name: String) throws -> [Member] {
        _ = try get(name)
        return try connection.query(
            """
            select user_id, role, can_send, to_char(joined_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
              from realtime.channel_members where channel = $1 order by joined_at, user_id
            """,
            [name]
        ).map { row in
            Member(user: row[0] ?? "", role: ChannelRole(rawValue: row[1] ?? "") ?? .member, canSend: row[2] == "t", joinedAt: row[3] ?? "")
        }
    }

    /// The users who are members of channel `name`, and the database time they are read as of
    /// (the statement's start, no later than its snapshot), in the form of the log's and the
    /// ephemeral events' timestamps, so that the two compare as text.
    public func memberUsers(of name: String) throws -> (users: Set<String>, asOf: String) {
        let row = try connection.query(
            """
            select to_char(statement_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   coalesce((select json_agg(user_id) from realtime.channel_members where channel = $1), '[]')::text
            """,
            [name]
        ).first
        let users = (try? JSONValue(parsing: row?[1] ?? "[]"))?.arrayValue?.compactMap(\.stringValue) ?? []
        return (Set(users), row?[0] ?? "")
    }

    /// Adds `user` with `role`, or gives a member that role. Refused past `max_members`, and for
    /// a third member of a direct channel; the count is taken under a lock on the channel.
    @discardableResult
    public func join(_ name: String, user: String, role: ChannelRole = .member) throws -> JoinResult {
        _ = try get(name)
        try MessageDraft.validate(user: user)
        do {
            let answer = try connection.query("select realtime.join_channel($1, $2, $3)", [name, user, role.rawValue]).first?[0] ?? nil
            return JoinResult(rawValue: answer ?? "") ?? .joined
        } catch let error as PostgresError where error.sqlState == SQLState.raiseException || error.sqlState == SQLState.noDataFound {
            throw ChannelError(description: Self.primary(error.message))
        }
    }

    /// Removes `user`; an error when it is not a member.
    public func leave(_ name: String, user: String) throws {
        _ = try get(name)
        let removed = try connection.query("delete from realtime.channel_members where channel = $1 and user_id = $2 returning 1", [name, user])
        guard !removed.isEmpty else { throw ChannelError(description: "\(user) is not a member of channel \(name)") }
    }

    /// The channel called `name` (nil when nobody created it) and `user`'s membership of it, in one
    /// round trip: what the relay decides access by.
    public func lookup(_ name: String, user: String?) throws -> (channel: Channel?, membership: ChannelAccess.Membership?) {
        let row =
            try connection.query(
                """
                select c.name, c.type, c.options::text, m.role, m.can_send
                  from (select $1::text as name) q
                  left join realtime.channels c on c.name = q.name
                  left join realtime.channel_members m on m.channel = q.name and m.user_id = $2
                """,
                [name, user]
            ).first ?? []
        guard row.count == 5, row[0] != nil else { return (nil, nil) }
        let channel = try summary([row[0], row[1], row[2], "0", ""]).channel
        let membership = row[3].flatMap(ChannelRole.init(rawValue:)).map { ChannelAccess.Membership(role: $0, canSend: row[4] == "t") }
        return (channel, membership)
    }

    /// Every channel `user` is a member of, with its membership.
    public func memberships(of user: String) throws -> [String: ChannelAccess.Membership] {
        var found: [String: ChannelAccess.Membership] = [:]
        for row in try connection.query("select channel, role, can_send from realtime.channel_members where user_id = $1", [user]) {
            if let name = row[0], let role = row[1].flatMap(ChannelRole.init(rawValue:)) { found[name] = .init(role: role, canSend: row[2] == "t") }
        }
        return found
    }

    private func summary(_ row: [String?]) throws -> Summary {
        let options = try ChannelOptions(parsing: row[2] ?? "{}")
        let channel = try Channel(name: row[0] ?? "", kind: ChannelKind(parsing: row[1] ?? ""), options: options)
        return Summary(channel: channel, members: Int(row[3] ?? "") ?? 0, createdAt: row[4] ?? "")
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
