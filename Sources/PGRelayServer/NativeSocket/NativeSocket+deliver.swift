import PGRelayCore

extension NativeSocket {
    /// Runs one subscription's loop, writing its changes as `change` messages, a channel's
    /// messages as `message` messages, its ephemeral events as they come; when it ends for a
    /// reason other than the client leaving, an `error` naming it.
    func forward(id: String, loop: SubscriberLoop, liveQuery: LiveQuery? = nil, handle: SubscriberHandle) async {
        let (metrics, writer) = (services.metrics, self.writer)
        let messageEnvelope = WebSocketServerMessage.envelope(type: "message", subscription: id, member: "message")
        let changeEnvelope = WebSocketServerMessage.envelope(type: "change", subscription: id, member: "event")
        // A table's shape changed: {"type":"schema","subscription":...,"event":{...,"operation":"SCHEMA"}}.
        let schemaEnvelope = WebSocketServerMessage.envelope(type: "schema", subscription: id, member: "event")
        do {
            var current = loop
            if let liveQuery {
                // The rows, each in its envelope, then the cut the changes continue after.
                let (head, tail) = WebSocketServerMessage.envelope(type: "row", subscription: id, member: "row")
                let (after, count) = try await liveQuery.snapshots.read(
                    liveQuery.subscription, request: liveQuery.request, close: liveQuery.close
                ) { rows in
                    try await writer.write(rows.lazy.map { WebSocketBatchWriter.Text(head: head, $0, tail: tail) })
                }
                try await writer.write(WebSocketServerMessage.snapshot(id, after: after, rows: count))
                current = liveQuery.loop(after: after)
            }
            let loop = current
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    let texts = entries.lazy.map { entry in
                        let (head, tail) =
                            entry.event == nil ? messageEnvelope : entry.event?.operation == .schema ? schemaEnvelope : changeEnvelope
                        return WebSocketBatchWriter.Text(head: head, entry.json, tail: tail)
                    }
                    try await writer.write(texts) { loop.progress.advanced() }
                    metrics.delivered(entries.count, via: .websocket)
                case .live(let after):
                    try await writer.write(WebSocketServerMessage.live(id, after: after))
                case .ephemeral(let events):
                    try await writer.write(events.lazy.filter(\.changesUsers).map { .init(WebSocketServerMessage.ephemeral($0, subscription: id)) })
                    metrics.delivered(events.count, via: .websocket)
                case .keepAlive:
                    break  // WebSocket keeps itself alive with ping frames.
                }
            }
        } catch is CancellationError {
        } catch {
            try? await writer.write(Self.error(id: id, error))
        }
    }
}
