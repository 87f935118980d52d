/// One user's presence on one channel: online while any of its connections (devices) is, with
/// the status and metadata its most recent connection set; offline ones keep their last status
/// and when they were last seen.
public struct Presence: Sendable, Equatable {
    public var channel: String
    public var user: String
    /// `online`, `away`, `busy`, `offline` or any string a client set: the last one set.
    public var status: String
    public var meta: JSONValue
    public var online: Bool
    /// Connections tracking it now (0 when offline).
    public var connections: Int
    /// When it was last seen online (now, for an online one), ISO-8601 UTC.
    public var lastSeen: String

    public init(channel: String, user: String, status: String, meta: JSONValue, online: Bool, connections: Int, lastSeen: String) {
        self.channel = channel
        self.user = user
        self.status = status
        self.meta = meta
        self.online = online
        self.connections = connections
        self.lastSeen = lastSeen
    }

    /// `{"status","meta","online","connections","last_seen"}`: what a presence state holds per user.
    public var stateJSON: JSONValue {
        .object([
            ("status", .string(status)), ("meta", meta), ("online", .bool(online)), ("connections", .number(String(connections))),
            ("last_seen", .string(lastSeen)),
        ])
    }

    public var json: JSONValue {
        .object([("channel", .string(channel)), ("user", .string(user))] + (stateJSON.objectMembers ?? []))
    }

    /// The presence of a channel as clients see it: online users by id.
    public static func state(_ present: [Presence]) -> JSONValue {
        .object(present.filter(\.online).map { ($0.user, $0.stateJSON) })
    }

    /// Checks a status a client or the CLI gives: 1 to 64 characters, no control characters.
    public static func validate(status: String) throws {
        guard (1...64).contains(status.count), !status.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ChannelError(
                description: "a presence status is 1 to 64 characters without control characters (online, away, busy, offline or your own)")
        }
    }
}
