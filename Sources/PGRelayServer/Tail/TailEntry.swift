import PGRelayCore
import PGRelayPostgres
import Synchronization

/// One entry of the log as every subscriber receives it, a table change or a channel message:
/// decoded once, each wire encoding made once, and the same bytes shared by every stream that
/// delivers it.
public final class TailEntry: Sendable {
    /// The log's channel: a table subscription's, or ``ChannelName/forMessages(_:)`` of a named
    /// channel. What subscribers are matched by.
    public let channel: String
    public let id: Int64
    public let content: LogEntry
    /// The canonical JSON text (the native WebSocket protocol wraps it).
    public let json: String
    /// The whole SSE frame: `id:`, `event:` and `data:` lines. A change's event is its operation;
    /// a message's is `message` (so that EventSource's `onmessage` receives it).
    public let serverSentEvent: String

    public init(_ change: LoggedChange) {
        channel = change.channel
        id = change.event.id
        content = .change(change.event)
        json = change.event.canonicalJSONText
        serverSentEvent = ServerSentEventLine.event(id: change.event.id, name: change.event.sseEventName, data: json)
    }

    public init(_ message: ChannelMessage) {
        channel = ChannelName.forMessages(message.channel)
        id = message.id
        content = .message(message)
        json = message.canonicalJSONText
        serverSentEvent = ServerSentEventLine.event(id: message.id, name: "message", data: json)
    }

    /// The last transport frame made from this entry, under what it depends on: a Supabase
    /// broadcast's text is the same for every socket with the same topic and framing, so that
    /// 1,000 sockets on one channel serialize it once, not 1,000 times.
    private let lastFrame = Mutex<(key: String, text: String?)?>(nil)

    /// The frame `make` makes for `key`, made once while the sockets asking agree on `key`.
    func frame(key: String, make: () -> String?) -> String? {
        if let last = lastFrame.withLock({ $0 }), last.key == key { return last.text }
        let text = make()
        lastFrame.withLock { $0 = (key, text) }
        return text
    }

    /// A page's changes and messages as entries, merged into id order; lets other tasks run
    /// every few milliseconds of encoding (``Turns``). The listener's pages and the
    /// log pages a subscriber reads itself are made here.
    static func merged(_ page: Listener.Page) async -> [TailEntry] {
        var entries: [TailEntry] = []
        entries.reserveCapacity(page.changes.count + page.messages.count)
        let (changes, messages) = (page.changes, page.messages)
        var (i, j) = (0, 0)
        var turns = Turns()  // a row may be large: look at the clock after each
        while i < changes.count || j < messages.count {
            if j == messages.count || (i < changes.count && changes[i].event.id < messages[j].id) {
                entries.append(TailEntry(changes[i]))
                i += 1
            } else {
                entries.append(TailEntry(messages[j]))
                j += 1
            }
            await turns.step()
        }
        return entries
    }

    /// The table change, or nil for a message.
    public var event: ChangeEvent? {
        if case .change(let change) = content { return change }
        return nil
    }

    /// What the entry holds in memory, roughly: the Tail's byte limit counts this.
    var bytes: Int { json.utf8.count * 2 + serverSentEvent.utf8.count + 128 }
}
