/// An ephemeral event on a channel (typing, a cursor move): like a message, but never in the
/// log and without an id; delivered once, to the subscribers connected when it is sent.
///
/// ```json
/// {"type":"broadcast","timestamp":"2026-12-05T10:00:00.123456Z","channel":"room:42","event":"typing",
///  "payload":{"on":true},"sender":"alice"}
/// ```
///
/// Presence changes travel the same road, as events of kind ``Kind/presenceDiff`` (their payload is
/// `{"joins":{...},"leaves":{...}}`), and a subscriber's first view of a channel's presence as
/// ``Kind/presenceState``.
public struct EphemeralEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Sent by a client or the CLI.
        case broadcast
        /// A presence change, announced by the database's presence functions.
        case presenceDiff = "presence_diff"
        /// Who is present, sent by the relay to a subscriber when it starts.
        case presenceState = "presence_state"
    }

    public var kind: Kind = .broadcast
    /// When it was sent (the sender's clock, UTC).
    public var timestamp: String
    public var channel: String
    public var event: String
    public var payload: JSONValue
    public var sender: String?
    /// The socket that sent it (`relay id/socket`), for clients that do not want their own back;
    /// not part of the JSON clients see.
    public var origin: String?

    public init(
        kind: Kind = .broadcast, timestamp: String, channel: String, event: String, payload: JSONValue, sender: String? = nil, origin: String? = nil
    ) {
        self.origin = origin
        self.kind = kind
        self.timestamp = timestamp
        self.channel = channel
        self.event = event
        self.payload = payload
        self.sender = sender
    }

    /// A broadcast as above; a presence diff as
    /// `{"type":"presence_diff","timestamp","channel","joins":{"alice":{"status","meta","online"}},"leaves":{}}`;
    /// a presence state as `{"type":"presence_state","timestamp","channel","presence":{"alice":{...}}}`.
    public var canonicalJSON: JSONValue {
        switch kind {
        case .presenceDiff:
            return .object([
                ("type", .string(kind.rawValue)), ("timestamp", .string(timestamp)), ("channel", .string(channel)),
                ("joins", payload["joins"] ?? .object([])), ("leaves", payload["leaves"] ?? .object([])),
            ])
        case .presenceState:
            return .object([
                ("type", .string(kind.rawValue)), ("timestamp", .string(timestamp)), ("channel", .string(channel)), ("presence", payload),
            ])
        case .broadcast:
            break
        }
        return .object([
            ("type", .string("broadcast")),
            ("timestamp", .string(timestamp)),
            ("channel", .string(channel)),
            ("event", .string(event)),
            ("payload", payload),
            ("sender", sender.map(JSONValue.string) ?? .null),
        ])
    }

    public var canonicalJSONText: String { canonicalJSON.jsonText }

    /// False for a presence change that only a connection saw (a second device with the same
    /// status): pgrelay's own clients see users, not connections, and get nothing for it.
    public var changesUsers: Bool {
        guard kind == .presenceDiff else { return true }
        return payload["joins"]?.objectMembers?.isEmpty == false || payload["leaves"]?.objectMembers?.isEmpty == false
    }

    /// The SSE frame: `event: broadcast` (or `presence_diff`, `presence_state`), and no `id:`, so
    /// that a reconnecting EventSource's `Last-Event-ID` stays the last message's.
    public var serverSentEvent: String { "event: \(kind.rawValue)\ndata: \(canonicalJSONText)\n\n" }
}
