/// The Server-Sent Events form of a change: `id:` is the change id (what a browser's
/// EventSource sends back as `Last-Event-ID`), `event:` the operation, `data:` the canonical JSON.
extension ChangeEvent {
    public var serverSentEvent: String {
        "id: \(id)\nevent: \(operation.rawValue)\ndata: \(canonicalJSONText)\n\n"
    }
}

/// SSE lines pgrelay sends besides changes.
public enum ServerSentEventLine {
    /// How long a browser waits before reconnecting, in milliseconds.
    public static func retry(milliseconds: Int) -> String { "retry: \(milliseconds)\n\n" }
    /// A comment: ignored by EventSource, keeps proxies from closing an idle stream.
    public static func comment(_ text: String) -> String { ": \(text)\n\n" }
}
