import Foundation

/// What a Supabase client asks for when it joins a topic (`phx_join`, spec §5), and the reply that
/// makes it report SUBSCRIBED.
///
/// The topic is `realtime:` plus a channel's name. The config is read as the reference server
/// reads it: booleans may be `true`/`false` or those strings, unknown keys are tolerated. The
/// reply echoes each `postgres_changes` binding exactly as the client sent it (same keys and
/// values, in the same order: the client compares them, and a mismatch is a CHANNEL_ERROR) with
/// an `id` added: non-zero, below 2^27, the same for the same binding content.
public struct SupabaseJoin: Equatable, Sendable {
    /// The channel's name: the topic without `realtime:`.
    public var channel: String
    /// `config.broadcast.self`: the sender gets its own broadcasts back. Default false.
    public var broadcastSelf = false
    /// `config.broadcast.ack`: a broadcast push is answered. Default false.
    public var broadcastAck = false
    /// `config.presence.enabled` (forced on by clients with presence callbacks).
    public var presenceEnabled = false
    /// `config.presence.key`: the presence key the client tracks under ("" when none was given).
    public var presenceKey = ""
    /// `config.private`.
    public var isPrivate = false
    /// `config.postgres_changes`, each as the client sent it, in its order.
    public var postgresChanges: [JSONValue] = []
    /// The join's `access_token`, when the client sent one.
    public var accessToken: String?
    /// The bindings, parsed (an unknown event or a filter that does not parse refuses the join).
    public var bindings: [PostgresBinding] = []
    /// `config.broadcast.replay`: the channel's logged messages to send first (private joins only).
    public var replay: Replay?

    public static let topicPrefix = "realtime:"

    /// Reads a `phx_join` frame's topic and payload; the error's text is the reply's `reason`.
    public init(topic: String, payload: JSONValue) throws {
        guard topic.hasPrefix(Self.topicPrefix) else {
            throw SupabaseJoinError(reason: "TopicNameRequired: a topic is 'realtime:' followed by a channel's name, not '\(topic.prefix(140))'")
        }
        let name = String(topic.dropFirst(Self.topicPrefix.count))
        guard !name.isEmpty else { throw SupabaseJoinError(reason: "TopicNameRequired: You must provide a topic name") }
        do {
            try Channel.validate(name: name)
        } catch {
            throw SupabaseJoinError(reason: "InvalidTopic: \(error)")
        }
        channel = name
        let config = payload["config"] ?? .object([])
        broadcastSelf = Self.flag(config["broadcast"]?["self"])
        broadcastAck = Self.flag(config["broadcast"]?["ack"])
        presenceEnabled = Self.flag(config["presence"]?["enabled"])
        presenceKey = config["presence"]?["key"]?.stringValue ?? ""
        isPrivate = Self.flag(config["private"])
        switch config["postgres_changes"] {
        case nil, .null?: postgresChanges = []
        case .array(let bindings)?:
            guard bindings.allSatisfy({ if case .object = $0 { true } else { false } }) else {
                throw SupabaseJoinError(
                    reason:
                        "InvalidJoinPayload: each postgres_changes binding is an object such as {\"event\":\"INSERT\",\"schema\":\"public\",\"table\":\"todos\"}"
                )
            }
            postgresChanges = bindings
            self.bindings = try bindings.map(PostgresBinding.init)
        default:
            throw SupabaseJoinError(reason: "InvalidJoinPayload: config.postgres_changes must be a list of bindings")
        }
        accessToken = payload["access_token"]?.stringValue
        if let replay = config["broadcast"]?["replay"], replay != .null {
            guard isPrivate else {
                throw SupabaseJoinError(reason: "UnableToReplayMessages: Replay is only allowed on private channels; join with config.private true")
            }
            self.replay = try Replay(replay)
        }
    }

    /// `config.broadcast.replay: {"since": <ms since 1970>, "limit": <n>}`: the newest `limit`
    /// messages of the channel's log sent at or after `since`, delivered oldest first before
    /// anything live, each with `meta.replayed`. The reference server stops at 25; pgrelay reads
    /// the log, so it takes up to ``maximumLimit`` (25 when `limit` is not given).
    public struct Replay: Equatable, Sendable {
        public static let defaultLimit = 25
        public static let maximumLimit = 1000
        /// Milliseconds since 1970 (UTC); 0 when not given: everything the log keeps.
        public var since: Int64
        public var limit: Int

        public init(since: Int64, limit: Int = Replay.defaultLimit) {
            self.since = since
            self.limit = limit
        }

        init(_ json: JSONValue) throws {
            guard case .object = json else {
                throw SupabaseJoinError(
                    reason: "UnableToReplayMessages: config.broadcast.replay is {\"since\": <ms since 1970>, \"limit\": <1 to \(Self.maximumLimit)>}")
            }
            func integer(_ name: String) throws -> Int64? {
                guard let value = json[name], value != .null else { return nil }
                guard case .number(let digits) = value, let number = Int64(digits), number >= 0 else {
                    throw SupabaseJoinError(
                        reason: "UnableToReplayMessages: replay.\(name) must be a non-negative integer, not \(value.jsonText.prefix(40))")
                }
                return number
            }
            since = try integer("since") ?? 0
            let limit = try integer("limit") ?? Int64(Self.defaultLimit)
            guard (1...Int64(Self.maximumLimit)).contains(limit) else {
                throw SupabaseJoinError(reason: "UnableToReplayMessages: replay.limit is 1 to \(Self.maximumLimit), not \(limit)")
            }
            self.limit = Int(limit)
        }

        /// Whether a message with this commit time (`2026-12-05T10:00:00.123456Z`, UTC) is at or
        /// after `since`: both as fixed-width UTC text to the millisecond, compared as text.
        public func includes(timestamp: String) -> Bool {
            SupabaseTime.milliseconds(timestamp) >= SupabaseTime.text(milliseconds: since)
        }
    }

    /// A boolean as the reference server takes it: `true`, or the string `"true"`.
    static func flag(_ value: JSONValue?) -> Bool {
        switch value {
        case .bool(let flag)?: return flag
        case .string(let text)?: return text == "true"
        default: return false
        }
    }

    /// The id of a binding: a hash of its content, non-zero (the Python client never fires id 0)
    /// and below 2^27 (exact in JavaScript, as the reference server's are).
    public static func bindingID(_ binding: JSONValue) -> Int {
        Int(ChannelName.fnv1a64(binding.jsonText) % UInt64((1 << 27) - 1)) + 1
    }

    /// The `response` of the join's `ok` reply: `{"postgres_changes": [binding + id, ...]}`.
    public var replyResponse: JSONValue {
        .object([
            (
                "postgres_changes",
                .array(
                    postgresChanges.map { binding in
                        guard case .object(let members) = binding else { return binding }
                        return .object(members.filter { $0.key != "id" } + [("id", .number(String(Self.bindingID(binding))))])
                    })
            )
        ])
    }
}

/// Why a join is refused: the `reason` of its error reply, `"<Code>: <message>"` as the reference server words it.
public struct SupabaseJoinError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
    /// The error reply's `response`.
    public var response: JSONValue { .object([("reason", .string(reason))]) }
}
