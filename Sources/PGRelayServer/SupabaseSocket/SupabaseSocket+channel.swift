import PGRelayCore
import PGRelayPostgres

extension SupabaseSocket {
    /// One joined channel's deliveries: the log's messages and ephemeral broadcasts, as `broadcast`
    /// frames (payloads that are not objects are skipped: the Python client drops them), and presence.
    func forward(topic: String, join: SupabaseJoin, replay: Replay, loop: SubscriberLoop, handle: SubscriberHandle) async {
        let (metrics, write, origin, pool) = (services.metrics, self.write, session.identity, services.pool)
        func broadcast(event: String, payload: JSONValue, id: Int64?, replayed: Bool = false) -> PhoenixFrame? {
            guard case .object = payload else { return nil }
            var body: [(key: String, value: JSONValue)] = [("type", .string("broadcast")), ("event", .string(event)), ("payload", payload)]
            if let id { body.append(("meta", .object((replayed ? [("replayed", .bool(true))] : []) + [("id", .string(String(id)))]))) }
            return PhoenixFrame(topic: topic, event: "broadcast", payload: .object(body))
        }
        do {
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    // The same text for every socket joined to this topic with this framing: made once.
                    let texts = entries.lazy.compactMap { entry -> String? in
                        guard case .message(let message) = entry.content, replay.sends(message.id) else { return nil }
                        let replayed = replay.ids.contains(message.id)
                        return entry.frame(key: topic + (write.serializer == .v1 ? "\u{0}1" : "\u{0}2") + (replayed ? "r" : "")) {
                            broadcast(event: message.event, payload: message.payload, id: message.id, replayed: replayed).flatMap(write.text(of:))
                        }
                    }
                    try await write.texts(texts) { loop.progress.advanced() }
                    metrics.delivered(entries.count, via: .websocket)
                case .ephemeral(let events):
                    for event in events {
                        switch event.kind {
                        case .broadcast where join.broadcastSelf || event.origin != origin:
                            if let frame = broadcast(event: event.event, payload: event.payload, id: nil) { try await write(frame) }
                        case .broadcast:
                            break
                        case .presenceState:
                            // The loop is in the channel's hub from here: the state, then every diff.
                            guard join.presenceEnabled else { break }
                            let metas = try await pool.withConnection { try PresenceStore(connection: $0).connectionMetas(channel: join.channel) }
                            try await write(PhoenixFrame(topic: topic, event: "presence_state", payload: Self.presenceMap(metas)))
                        case .presenceDiff:
                            guard let key = event.payload["key"]?.stringValue else { break }
                            let joins = Self.presenceMap((event.payload["meta_joins"]?.arrayValue ?? []).map { (key, $0) })
                            let leaves = Self.presenceMap((event.payload["meta_leaves"]?.arrayValue ?? []).map { (key, $0) })
                            guard joins != .object([]) || leaves != .object([]) else { break }
                            try await write(
                                PhoenixFrame(topic: topic, event: "presence_diff", payload: .object([("joins", joins), ("leaves", leaves)])))
                        }
                    }
                case .live, .keepAlive:
                    break
                }
            }
        } catch is CancellationError {
        } catch let lost where lost is SupabaseJoinError || (lost as? Refusal).map({ $0.kind == .forbidden || $0.kind == .unauthorized }) == true {
            // The holder lost the channel (a member removed, the channel deleted): the join is closed.
            logger.info("supabase socket: a joined channel may no longer be read", metadata: ["topic": "\(topic)", "reason": "\(lost)"])
            guard let entry = session.subscriptions.get(topic), session.subscriptions.remove(topic, ifSame: handle) else { return }
            try? await close(topic, entry, because: "You no longer have permission to read from this Channel topic: \(join.channel)")
        } catch {
            logger.warning("supabase channel ended", metadata: ["topic": "\(topic)", "error": "\(Refusal(error).message)"])
        }
    }
}
