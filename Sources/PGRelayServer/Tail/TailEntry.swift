import PGRelayCore

/// One change as every subscriber receives it: decoded once, each wire encoding made once, and
/// the same bytes shared by every stream that delivers it.
public final class TailEntry: Sendable {
    /// The channel of the subscription whose trigger captured it: what subscribers are matched by.
    public let channel: String
    public let event: ChangeEvent
    /// The canonical JSON text (the native WebSocket protocol wraps it).
    public let json: String
    /// The whole SSE frame: `id:`, `event:` and `data:` lines.
    public let serverSentEvent: String

    public init(_ change: LoggedChange) {
        channel = change.channel
        event = change.event
        json = change.event.canonicalJSONText
        serverSentEvent = "id: \(change.event.id)\nevent: \(change.event.operation.rawValue)\ndata: \(json)\n\n"
    }

    /// What the entry holds in memory, roughly: the Tail's byte limit counts this.
    var bytes: Int { json.utf8.count * 2 + serverSentEvent.utf8.count + 128 }
}
