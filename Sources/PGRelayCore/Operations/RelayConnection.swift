import Foundation

/// One client connection of a relay, as `pgrelay connections` lists it: an SSE stream, a native
/// WebSocket or a Supabase socket. Each relay keeps its own in memory and publishes them in
/// batches with its heartbeat (``relayBeatJSON``), never with a write per connect.
public struct RelayConnection: Equatable, Sendable {
    public enum Transport: String, Sendable, CaseIterable {
        case sse
        case websocket
        case supabase
    }

    public var id: String
    /// The token's user (`sub`), when auth is on and the token names one.
    public var user: String?
    public var transport: Transport
    /// `127.0.0.1:51234`.
    public var remote: String
    public var userAgent: String
    /// Subscribed tables, `schema.table`.
    public var subscriptions: [String]
    /// Channels it reads (by name).
    public var channels: [String]
    public var connectedAt: Date
    public var lastSeen: Date

    public init(
        id: String, user: String?, transport: Transport, remote: String, userAgent: String, subscriptions: [String] = [], channels: [String] = [],
        connectedAt: Date, lastSeen: Date
    ) {
        self.id = id
        self.user = user
        self.transport = transport
        self.remote = remote
        self.userAgent = userAgent
        self.subscriptions = subscriptions
        self.channels = channels
        self.connectedAt = connectedAt
        self.lastSeen = lastSeen
    }

    /// The longest user agent kept: a header is the client's to choose, the table is everyone's.
    public static let maximumUserAgent = 256

    /// The row `realtime.relay_beat` reads (`jsonb_to_recordset`), times to the millisecond.
    public var relayBeatJSON: JSONValue {
        .object([
            ("id", .string(id)), ("user_id", user.map(JSONValue.string) ?? .null), ("transport", .string(transport.rawValue)),
            ("remote", .string(remote)), ("user_agent", .string(String(userAgent.prefix(Self.maximumUserAgent)))),
            ("subscriptions", .array(subscriptions.map(JSONValue.string))), ("channels", .array(channels.map(JSONValue.string))),
            ("connected_at", .string(Self.timestamp(connectedAt))), ("last_seen", .string(Self.timestamp(lastSeen))),
        ])
    }

    /// `2026-12-05T10:00:00.123Z`.
    public static func timestamp(_ date: Date) -> String {
        SupabaseTime.text(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// What changed between two sets of connections by id: those to write (new or changed) and
    /// the ids of those gone. A change of `lastSeen` within `granularity` seconds is no change,
    /// so that a busy connection is not rewritten at every beat for a few milliseconds.
    public static func changes(from published: [String: RelayConnection], to current: [String: RelayConnection], granularity: TimeInterval = 1)
        -> (upserts: [RelayConnection], removed: [String])
    {
        let upserts = current.values.filter { connection in
            guard var before = published[connection.id] else { return true }
            if abs(before.lastSeen.timeIntervalSince(connection.lastSeen)) < granularity { before.lastSeen = connection.lastSeen }
            return before != connection
        }.sorted { $0.id < $1.id }
        let removed = published.keys.filter { current[$0] == nil }.sorted()
        return (upserts, removed)
    }
}
