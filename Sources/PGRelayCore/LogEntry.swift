/// One numbered entry of the log: a table change or a channel message. Both take their ids from
/// the same ticks, so a reader that wants both (a table and a channel) gets one order.
public enum LogEntry: Sendable, Equatable {
    case change(ChangeEvent)
    case message(ChannelMessage)

    public var id: Int64 {
        switch self {
        case .change(let change): change.id
        case .message(let message): message.id
        }
    }

    public var canonicalJSONText: String {
        switch self {
        case .change(let change): change.canonicalJSONText
        case .message(let message): message.canonicalJSONText
        }
    }

    public var readableText: String {
        switch self {
        case .change(let change): change.readableText
        case .message(let message): message.readableText
        }
    }

    /// Merges two id-ordered lists into one id-ordered list.
    public static func merged(changes: [ChangeEvent], messages: [ChannelMessage]) -> [LogEntry] {
        var out: [LogEntry] = []
        out.reserveCapacity(changes.count + messages.count)
        var (i, j) = (0, 0)
        while i < changes.count || j < messages.count {
            if j == messages.count || (i < changes.count && changes[i].id < messages[j].id) {
                out.append(.change(changes[i]))
                i += 1
            } else {
                out.append(.message(messages[j]))
                j += 1
            }
        }
        return out
    }
}
