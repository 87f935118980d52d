/// What a Supabase (Phoenix) client's frame asks, decoded from its topic, event and payload:
/// the Supabase socket's counterpart of ``WebSocketClientMessage``. The frame itself still
/// carries the topic and the refs a reply echoes.
///
/// ```
/// {"topic":"phoenix","event":"heartbeat"}                       → .heartbeat
/// {"topic":"realtime:room","event":"phx_join","payload":{...}}  → .join(.success(SupabaseJoin))
/// {"topic":"realtime:room","event":"presence","payload":{"event":"track","payload":{...}}} → .presence(.track(meta))
/// {"topic":"realtime:room","event":"broadcast","payload":{"event":"chat","payload":{...}}} → .broadcast(event: "chat", ...)
/// {"topic":"realtime:room","event":"access_token","payload":{"access_token":"<jwt>"}} → .accessToken("<jwt>")
/// ```
public enum SupabaseClientMessage: Equatable, Sendable {
    case heartbeat
    /// A join, or why its payload cannot be joined (answered with that reason).
    case join(Result<SupabaseJoin, SupabaseJoinError>)
    case leave
    case presence(SupabasePresencePush)
    /// A client's broadcast; `event` is nil when the payload names none (refused).
    case broadcast(event: String?, payload: JSONValue)
    /// A fresh token for the socket; nil when the push carries none.
    case accessToken(String?)
    /// Any other event: answered "unmatched topic" when its topic is not joined, else ignored.
    case other

    public init(_ frame: PhoenixFrame) {
        switch (frame.topic, frame.event) {
        case ("phoenix", "heartbeat"):
            self = .heartbeat
        case (_, "phx_join"):
            do {
                self = .join(.success(try SupabaseJoin(topic: frame.topic, payload: frame.payload)))
            } catch let error as SupabaseJoinError {
                self = .join(.failure(error))
            } catch {
                self = .join(.failure(SupabaseJoinError(reason: "\(error)")))
            }
        case (_, "phx_leave"):
            self = .leave
        case (_, "presence"):
            self = .presence(SupabasePresencePush(frame.payload))
        case (_, "broadcast"):
            self = .broadcast(event: frame.payload["event"]?.stringValue, payload: frame.payload["payload"] ?? .object([]))
        case (_, "access_token"):
            self = .accessToken(frame.payload["access_token"]?.stringValue)
        default:
            self = .other
        }
    }
}

/// A `presence` push: track this socket's meta on the joined channel, untrack it, or a push that
/// is neither (answered with the reason).
public enum SupabasePresencePush: Equatable, Sendable {
    /// The meta to track, as the client gave it (its `phx_ref` members are the server's to set).
    case track(meta: JSONValue)
    case untrack
    case invalid(reason: String)

    public init(_ payload: JSONValue) {
        switch payload["event"]?.stringValue?.lowercased() {
        case "track":
            let meta = payload["payload"] ?? .object([])
            guard case .object = meta else {
                self = .invalid(reason: "Presence track payload must be a map")
                return
            }
            self = .track(meta: meta)
        case "untrack":
            self = .untrack
        default:
            self = .invalid(reason: "a presence push is {\"event\":\"track\",\"payload\":{...}} or {\"event\":\"untrack\"}")
        }
    }
}
