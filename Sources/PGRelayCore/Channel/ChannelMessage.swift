/// A message sent to a named channel: an event name, a JSON payload and, when known, its sender.
///
/// Messages are written to the same commit-ordered log as table changes (`realtime.post`, called
/// by `realtime.send`, `pgrelay send` and the relay), so a message's id is a resume token exactly
/// like a change's: one sequence for both, in commit order. Its canonical JSON form:
///
/// ```json
/// {"id":57,"timestamp":"2026-12-05T10:00:00.123456Z","type":"message","channel":"room:42",
///  "event":"chat","payload":{"text":"hi"},"sender":"alice","private":false}
/// ```
public struct ChannelMessage: Sendable, Equatable {
    /// The resume token, from the same ticks that number table changes.
    public var id: Int64
    /// Commit time, as for a change: the tick's time, or the exact commit time with `track_commit_timestamp`.
    public var timestamp: String
    public var channel: String
    public var event: String
    public var payload: JSONValue
    /// The user who sent it (a token's `sub`, or what `pgrelay send` was given); nil from SQL.
    public var sender: String?
    /// Sent as private (Supabase's `realtime.send(..., private => true)`, or to a private or direct channel).
    public var isPrivate: Bool

    public init(id: Int64, timestamp: String, channel: String, event: String, payload: JSONValue, sender: String? = nil, isPrivate: Bool = false) {
        self.id = id
        self.timestamp = timestamp
        self.channel = channel
        self.event = event
        self.payload = payload
        self.sender = sender
        self.isPrivate = isPrivate
    }

    /// The `operation` a log record of a message carries.
    public static let operation = "MESSAGE"
    /// The `operation` of a channel's access change (``AccessChange``).
    public static let accessOperation = "ACCESS"

    /// Not a message but a change of who may read the channel, at its place among the channel's
    /// messages: never delivered; a relay re-decides its readers' rights when it passes.
    public var access: AccessChange?

    /// Decodes a log record, `{"operation":"MESSAGE","channel","event","payload","sender","private"}`,
    /// with the id and commit time the log assigned it.
    public init(id: Int64, timestamp: String, record: JSONValue) throws {
        if record["operation"]?.stringValue == Self.accessOperation {
            guard let channel = record["channel"]?.stringValue, !channel.isEmpty else {
                throw ChangeEventDecodingError(reason: "an access change without \"channel\"")
            }
            self.init(id: id, timestamp: timestamp, channel: channel, event: "access", payload: .null)
            access = AccessChange(user: record["user"]?.stringValue, change: record["change"]?.stringValue ?? "changed")
            return
        }
        guard record["operation"]?.stringValue == Self.operation else {
            throw ChangeEventDecodingError(reason: "a message record needs \"operation\":\"MESSAGE\"")
        }
        guard let channel = record["channel"]?.stringValue, !channel.isEmpty else {
            throw ChangeEventDecodingError(reason: "a message without \"channel\"")
        }
        guard let event = record["event"]?.stringValue, !event.isEmpty else { throw ChangeEventDecodingError(reason: "a message without \"event\"") }
        var sender: String?
        switch record["sender"] {
        case nil, .null?: sender = nil
        case .string(let text)?: sender = text
        default: throw ChangeEventDecodingError(reason: "a message's \"sender\" must be a string or null")
        }
        var isPrivate = false
        switch record["private"] {
        case nil, .null?: isPrivate = false
        case .bool(let flag)?: isPrivate = flag
        default: throw ChangeEventDecodingError(reason: "a message's \"private\" must be a boolean")
        }
        self.init(
            id: id, timestamp: timestamp, channel: channel, event: event, payload: record["payload"] ?? .null, sender: sender, isPrivate: isPrivate)
    }

    /// The canonical JSON form as a value.
    public var canonicalJSON: JSONValue {
        .object([
            ("id", .number(String(id))),
            ("timestamp", .string(timestamp)),
            ("type", .string("message")),
            ("channel", .string(channel)),
            ("event", .string(event)),
            ("payload", payload),
            ("sender", sender.map(JSONValue.string) ?? .null),
            ("private", .bool(isPrivate)),
        ])
    }

    public var canonicalJSONText: String { canonicalJSON.jsonText }

    /// What `pgrelay listen`, `replay` and `messages` print for an operator:
    ///
    /// ```
    /// 2026-12-05T10:00:00.123456Z  #57  MESSAGE  room:42  chat  from alice
    ///   {"text":"hi"}
    /// ```
    public var readableText: String {
        "\(timestamp)  #\(id)  MESSAGE  \(channel)  \(event)\(sender.map { "  from \($0)" } ?? "")\n  \(payload.jsonText)"
    }
}

/// A change of who may read a channel (`realtime.access_changed`): a member removed or its role
/// changed (`user` names it), or the channel deleted or changed (`user` nil: everyone).
public struct AccessChange: Equatable, Sendable {
    public var user: String?
    /// `removed`, `role`, `deleted` or `changed`.
    public var change: String

    public init(user: String?, change: String) {
        self.user = user
        self.change = change
    }

    /// Whether a reader who is `user` (nil: a token without one) may be affected.
    public func concerns(_ user: String?) -> Bool { self.user == nil || self.user == user }
}
