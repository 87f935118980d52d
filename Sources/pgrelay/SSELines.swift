import Foundation

/// Server-Sent Events from chunks of text: complete events out, the rest kept for the next chunk.
struct SSELines {
    struct Event {
        var id: Int64?
        var name = ""
        var data = ""
    }

    private var pending = ""
    private var event = Event()

    mutating func feed(_ text: String) -> [Event] {
        pending += text
        var events: [Event] = []
        while let end = pending.firstIndex(where: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(pending[..<end])
            pending = String(pending[pending.index(after: end)...])
            if line.isEmpty {
                if !event.data.isEmpty || !event.name.isEmpty { events.append(event) }
                event = Event()
                continue
            }
            if line.hasPrefix(":") { continue }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            var value = parts.count > 1 ? String(parts[1]) : ""
            if value.hasPrefix(" ") { value.removeFirst() }
            switch parts[0] {
            case "id": event.id = Int64(value)
            case "event": event.name = value
            case "data": event.data += event.data.isEmpty ? value : "\n" + value
            default: break
            }
        }
        return events
    }
}
