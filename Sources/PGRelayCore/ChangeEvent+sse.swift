/// The Server-Sent Events form of a change: `id:` is the change id (what a browser's
/// EventSource sends back as `Last-Event-ID`), `event:` the operation, `data:` the canonical JSON.
extension ChangeEvent {
    /// The SSE event name: the operation (`INSERT`, ...), and `schema` for a SCHEMA event.
    public var sseEventName: String { operation == .schema ? "schema" : operation.rawValue }

    public var serverSentEvent: String { ServerSentEventLine.event(id: id, name: sseEventName, data: canonicalJSONText) }
}

/// SSE lines pgrelay sends besides changes.
public enum ServerSentEventLine {
    /// One event with an id: a change (its operation names it), a message (`message`).
    /// `data` is one line of JSON.
    public static func event(id: Int64, name: String, data: String) -> String { "id: \(id)\nevent: \(name)\ndata: \(data)\n\n" }

    /// How long a browser waits before reconnecting, in milliseconds.
    public static func retry(milliseconds: Int) -> String { "retry: \(milliseconds)\n\n" }
    /// A comment: ignored by EventSource, keeps proxies from closing an idle stream.
    public static func comment(_ text: String) -> String { ": \(text)\n\n" }
    /// The stream is live: every change after `after` will follow. Its `id:` is the stream's
    /// cursor, so an EventSource that reconnects from here loses nothing; `event: live` keeps it
    /// away from `onmessage`.
    public static func live(after id: Int64) -> String {
        event(id: id, name: "live", data: #"{"after":\#(id)}"#)
    }
    /// One current row of a live query's snapshot (its JSON text as capture renders a change's
    /// `new`); no `id:`: a client that drops during the rows starts a new snapshot.
    public static func row(_ json: String) -> String { "event: row\ndata: \(json)\n\n" }
    /// The snapshot's end: `rows` rows, as of the cut after `after`, whose changes follow. Its
    /// `id:` is the cursor a reconnecting client resumes the changes from.
    public static func snapshot(after id: Int64, rows: Int) -> String {
        event(id: id, name: "snapshot", data: #"{"after":\#(id),"rows":\#(rows)}"#)
    }
    /// The stream ends because of `body` (JSON with an "error" member); no `id:`, so the cursor stays.
    public static func error(_ body: JSONValue) -> String { "event: error\ndata: \(body.jsonText)\n\n" }
    /// The database's history changed under the stream: what it delivered after the body's
    /// `lost_after` is gone; reload, then resume from the body's `since`. The stream ends.
    public static func reset(_ body: JSONValue) -> String { "event: reset\ndata: \(body.jsonText)\n\n" }
}
