/// pgrelay's native WebSocket protocol (`GET /v1/ws`): JSON text messages, many subscriptions
/// per socket.
///
/// ```
/// → {"type":"subscribe","id":"s1","table":"public.orders","events":["INSERT"],"filter":"status=eq.paid","since":41}
/// ← {"type":"subscribed","id":"s1"}
/// ← {"type":"live","id":"s1","after":57}       (after any replay: every change after 57 follows)
/// ← {"type":"change","subscription":"s1","event":{...canonical change...}}
/// ← {"type":"schema","subscription":"s1","event":{...canonical SCHEMA event: "old" and "new" shapes...}}
/// → {"type":"unsubscribe","id":"s1"}          ← {"type":"unsubscribed","id":"s1"}
/// → {"type":"ping"}                           ← {"type":"pong"}
/// → {"type":"access_token","token":"<jwt>"}   ← {"type":"access_token","expires_at":1767225600}
///                                               (a fresh token for the same sub and role, before exp)
/// ← {"type":"error","id":"s1","message":"..."}   (the socket stays open)
///
/// → {"type":"subscribe","id":"c1","channel":"room:42","since":41}      (a named channel's messages)
/// ← {"type":"message","subscription":"c1","message":{...canonical message...}}
/// → {"type":"send","ref":"m1","channel":"room:42","event":"chat","payload":{"text":"hi"}}
/// ← {"type":"sent","ref":"m1"}                   (written to the log; it arrives as a message)
/// → {"type":"send","channel":"room:42","event":"typing","payload":{},"ephemeral":true}
/// ← {"type":"broadcast","subscription":"c1","message":{...ephemeral event...}}   (to those connected now)
/// → {"type":"track","ref":"p1","channel":"room:42","status":"online","meta":{"device":"phone"}}
/// ← {"type":"tracked","ref":"p1"}               (as the token's user; without auth, give "user")
/// ← {"type":"presence_state","subscription":"c1","message":{...}}  (when a channel subscription starts)
/// ← {"type":"presence_diff","subscription":"c1","message":{...joins, leaves...}}
/// → {"type":"untrack","ref":"p2","channel":"room:42"}   ← {"type":"untracked","ref":"p2"}
/// ```
public enum WebSocketClientMessage: Equatable, Sendable {
    case subscribe(id: String, table: TableName, request: StreamRequest)
    /// A named channel's messages after `since` (nil: live from now).
    case subscribeChannel(id: String, channel: String, since: Int64?)
    /// A message to a channel; `ref`, when given, names it in the answer (`sent` or `error`).
    case send(ref: String?, channel: String, event: String, payload: JSONValue, ephemeral: Bool)
    /// This socket's user is present on a channel, with a status and metadata (again: updates them).
    /// `user` is only for relays without auth (with auth the token names the user).
    case track(ref: String?, channel: String, status: String, meta: JSONValue, user: String?)
    case untrack(ref: String?, channel: String)
    case unsubscribe(id: String)
    /// An application-level ping, for clients (browsers) that cannot send ping frames.
    case ping
    /// A refreshed token, so that the socket outlives the one it opened with.
    case accessToken(String)

    /// Decodes one text message; every mistake is a ``WebSocketProtocolError`` naming the subscription id when known.
    public init(text: String) throws {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw WebSocketProtocolError(id: nil, message: "message is not JSON: \(error)")
        }
        guard case .object = json else { throw WebSocketProtocolError(id: nil, message: "message must be a JSON object") }
        let id = json["id"]?.stringValue
        func fail(_ message: String) -> WebSocketProtocolError { WebSocketProtocolError(id: id, message: message) }
        switch json["type"]?.stringValue {
        case "subscribe" where json["channel"] != nil:
            guard let id, !id.isEmpty else { throw fail("subscribe needs a string \"id\"") }
            guard json["table"] == nil else { throw fail("subscribe takes a \"table\" or a \"channel\", not both") }
            guard let channel = json["channel"]?.stringValue else { throw fail("\"channel\" must be a channel's name, e.g. \"room:42\"") }
            do { try Channel.validate(name: channel) } catch { throw fail("\(error)") }
            for key in ["events", "filter"] where json[key] != nil {
                throw fail("a channel subscription takes no \"\(key)\": it gets every message of its channel")
            }
            self = .subscribeChannel(id: id, channel: channel, since: try Self.since(json, fail))
        case "send":
            let ref = json["ref"]?.stringValue
            func failSend(_ message: String) -> WebSocketProtocolError { WebSocketProtocolError(id: ref, message: message) }
            guard let channel = json["channel"]?.stringValue else { throw failSend("send needs a \"channel\", e.g. \"room:42\"") }
            guard let event = json["event"]?.stringValue else { throw failSend("send needs an \"event\" name, e.g. \"chat\"") }
            do {
                try Channel.validate(name: channel)
                try MessageDraft.validate(event: event)
            } catch {
                throw failSend("\(error)")
            }
            guard case .object(let members) = json else { throw failSend("message must be a JSON object") }
            for (key, _) in members where !["type", "ref", "channel", "event", "payload", "ephemeral"].contains(key) {
                throw failSend("send takes type, ref, channel, event, payload and ephemeral, not \"\(key)\"")
            }
            var ephemeral = false
            switch json["ephemeral"] {
            case nil, .null?: break
            case .bool(let flag)?: ephemeral = flag
            default: throw failSend("\"ephemeral\" must be true or false")
            }
            self = .send(ref: ref, channel: channel, event: event, payload: json["payload"] ?? .null, ephemeral: ephemeral)
        case "track", "untrack":
            let ref = json["ref"]?.stringValue
            func failPresence(_ message: String) -> WebSocketProtocolError { WebSocketProtocolError(id: ref, message: message) }
            let type = json["type"]?.stringValue ?? ""
            guard let channel = json["channel"]?.stringValue else { throw failPresence("\(type) needs a \"channel\", e.g. \"room:42\"") }
            do { try Channel.validate(name: channel) } catch { throw failPresence("\(error)") }
            let allowed: Set<String> = type == "track" ? ["type", "ref", "channel", "status", "meta", "user"] : ["type", "ref", "channel"]
            guard case .object(let members) = json else { throw failPresence("message must be a JSON object") }
            for (key, _) in members where !allowed.contains(key) {
                throw failPresence("\(type) takes \(allowed.sorted().joined(separator: ", ")), not \"\(key)\"")
            }
            guard type == "track" else {
                self = .untrack(ref: ref, channel: channel)
                return
            }
            let status: String
            switch json["status"] {
            case nil, .null?: status = "online"
            case .string(let text)?: status = text
            default: throw failPresence("\"status\" must be a string such as \"online\" or \"away\"")
            }
            do { try Presence.validate(status: status) } catch { throw failPresence("\(error)") }
            let meta = json["meta"] ?? .object([])
            guard case .object = meta else { throw failPresence("\"meta\" must be a JSON object, such as {\"device\":\"phone\"}") }
            var user: String?
            switch json["user"] {
            case nil, .null?: user = nil
            case .string(let text)?:
                do { try MessageDraft.validate(user: text) } catch { throw failPresence("\(error)") }
                user = text
            default: throw failPresence("\"user\" must be a string")
            }
            self = .track(ref: ref, channel: channel, status: status, meta: meta, user: user)
        case "subscribe":
            guard let id, !id.isEmpty else { throw fail("subscribe needs a string \"id\"") }
            guard let tableText = json["table"]?.stringValue else {
                throw fail("subscribe needs a \"table\" (\"public.orders\") or a \"channel\" (\"room:42\")")
            }
            let table: TableName
            do { table = try TableName(parsing: tableText) } catch { throw fail("\(error)") }
            var request = StreamRequest()
            switch json["events"] {
            case nil, .null?:
                break
            case .array(let items)?:
                let names = items.compactMap(\.stringValue)
                guard names.count == items.count else { throw fail("\"events\" must be a list of strings") }
                do { request.events = try EventSet(parsing: names.joined(separator: ",")) } catch { throw fail("events: \(error)") }
            default:
                throw fail("\"events\" must be a list such as [\"INSERT\",\"UPDATE\"]")
            }
            switch json["filter"] {
            case nil, .null?:
                break
            case .string(let filter)?:
                do { request.filter = filter.isEmpty ? .all : try RowFilter(query: filter) } catch { throw fail("\(error)") }
            default:
                throw fail("\"filter\" must be a string such as \"status=eq.paid&total=gt.100\"")
            }
            request.since = try Self.since(json, fail)
            switch json["snapshot"] {
            case nil, .null?, .bool(false)?: break
            case .bool(true)?: request.snapshot = true
            default: throw fail("\"snapshot\" must be true or false")
            }
            do { try request.requireCompleteSnapshot() } catch { throw fail("\(error)") }
            self = .subscribe(id: id, table: table, request: request)
        case "unsubscribe":
            guard let id else { throw fail("unsubscribe needs the subscription's \"id\"") }
            self = .unsubscribe(id: id)
        case "ping":
            self = .ping
        case "access_token":
            guard let token = json["token"]?.stringValue, !token.isEmpty else { throw fail("access_token needs the new JWT as a string \"token\"") }
            self = .accessToken(token)
        case let other:
            throw fail(
                "unknown message type \(other.map { "'\($0)'" } ?? "(missing \"type\")"); use subscribe, unsubscribe, send, track, untrack, access_token or ping"
            )
        }
    }

    /// The `since` of a subscription: absent, null, or a non-negative id.
    static func since(_ json: JSONValue, _ fail: (String) -> WebSocketProtocolError) throws -> Int64? {
        switch json["since"] {
        case nil, .null?:
            return nil
        case .number(let n)?:
            guard let since = Int64(n), since >= 0 else { throw fail("\"since\" must be a change id (a non-negative integer)") }
            return since
        default:
            throw fail("\"since\" must be a change id (a non-negative integer)")
        }
    }
}

public struct WebSocketProtocolError: Error, Equatable, CustomStringConvertible {
    /// The subscription the message was about, when it said.
    public var id: String?
    public var message: String
    public var description: String { message }
}

/// The server's messages, as text ready to send.
public enum WebSocketServerMessage {
    public static func subscribed(_ id: String) -> String {
        JSONValue.object([("type", .string("subscribed")), ("id", .string(id))]).jsonText
    }

    public static func unsubscribed(_ id: String) -> String {
        JSONValue.object([("type", .string("unsubscribed")), ("id", .string(id))]).jsonText
    }

    /// The subscription has caught up: every change after `after` will follow.
    /// The end of a live query's rows: `rows` rows as of the cut after `after`; its changes follow.
    public static func snapshot(_ id: String, after: Int64, rows: Int) -> String {
        JSONValue.object([
            ("type", .string("snapshot")), ("subscription", .string(id)), ("after", .number(String(after))), ("rows", .number(String(rows))),
        ]).jsonText
    }

    public static func live(_ id: String, after: Int64) -> String {
        JSONValue.object([("type", .string("live")), ("id", .string(id)), ("after", .number(String(after)))]).jsonText
    }

    public static let pong = #"{"type":"pong"}"#

    /// A refreshed token was accepted; nil when it has no `exp`.
    public static func tokenAccepted(expiresAt: Int64?) -> String {
        JSONValue.object([("type", .string("access_token")), ("expires_at", expiresAt.map { .number(String($0)) } ?? .null)]).jsonText
    }

    public static func error(id: String?, _ message: String) -> String {
        JSONValue.object([("type", .string("error")), ("id", id.map(JSONValue.string) ?? .null), ("message", .string(message))]).jsonText
    }

    /// A channel's message for one subscription; `messageJSON` is the canonical JSON text.
    public static func message(subscription: String, messageJSON: String) -> String {
        let (head, tail) = envelope(type: "message", subscription: subscription, member: "message")
        return head + messageJSON + tail
    }

    /// What goes before and after an entry's JSON in a `change` (`member` "event") or `message`
    /// (`member` "message") for one subscription: the same for all its entries, so a batch is
    /// written without joining a new string per entry.
    public static func envelope(type: String, subscription: String, member: String) -> (head: String, tail: String) {
        var head = #"{"type":"# + JSONValue.string(type).jsonText + #","subscription":"#
        JSONValue.writeString(subscription, to: &head)
        head += "," + JSONValue.string(member).jsonText + ":"
        return (head, "}")
    }

    /// An ephemeral event for one channel subscription: `broadcast`, `presence_state` or
    /// `presence_diff` (``EphemeralEvent``'s JSON as `message`).
    public static func ephemeral(_ event: EphemeralEvent, subscription: String) -> String {
        var out = #"{"type":""# + event.kind.rawValue + #"","subscription":"#
        JSONValue.writeString(subscription, to: &out)
        return out + #","message":"# + event.canonicalJSONText + "}"
    }

    /// A `track` or `untrack` took effect.
    public static func presenceDone(_ type: String, ref: String?) -> String {
        JSONValue.object([("type", .string(type)), ("ref", ref.map(JSONValue.string) ?? .null)]).jsonText
    }

    /// A `send` was written to the log.
    public static func sent(ref: String?) -> String {
        JSONValue.object([("type", .string("sent")), ("ref", ref.map(JSONValue.string) ?? .null)]).jsonText
    }

    /// A change for one subscription; `eventJSON` is the canonical JSON text, shared between subscribers.
    public static func change(subscription: String, eventJSON: String) -> String {
        let (head, tail) = envelope(type: "change", subscription: subscription, member: "event")
        return head + eventJSON + tail
    }
}
