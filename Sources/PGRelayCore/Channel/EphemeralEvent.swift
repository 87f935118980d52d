/// An ephemeral event on a channel (typing, a cursor move): like a message, but never in the
/// log and without an id; delivered once, to the subscribers connected when it is sent.
///
/// ```json
/// {"type":"broadcast","timestamp":"2026-12-05T10:00:00.123456Z","channel":"room:42","event":"typing",
///  "payload":{"on":true},"sender":"alice"}
/// ```
public struct EphemeralEvent: Sendable, Equatable {
    /// When it was sent (the sender's clock, UTC).
    public var timestamp: String
    public var channel: String
    public var event: String
    public var payload: JSONValue
    public var sender: String?

    public init(timestamp: String, channel: String, event: String, payload: JSONValue, sender: String? = nil) {
        self.timestamp = timestamp
        self.channel = channel
        self.event = event
        self.payload = payload
        self.sender = sender
    }

    public var canonicalJSON: JSONValue {
        .object([
            ("type", .string("broadcast")),
            ("timestamp", .string(timestamp)),
            ("channel", .string(channel)),
            ("event", .string(event)),
            ("payload", payload),
            ("sender", sender.map(JSONValue.string) ?? .null),
        ])
    }

    public var canonicalJSONText: String { canonicalJSON.jsonText }

    /// The SSE frame: `event: broadcast`, and no `id:`, so that a reconnecting EventSource's
    /// `Last-Event-ID` stays the last message's.
    public var serverSentEvent: String { "event: broadcast\ndata: \(canonicalJSONText)\n\n" }
}
