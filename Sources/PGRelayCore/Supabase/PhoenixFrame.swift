/// One frame of the Phoenix channel protocol that Supabase's realtime clients speak (see
/// `docs/protocols/supabase-realtime.md`, §2): a topic, an event, a payload and two refs.
///
/// Two text framings, chosen per socket by its `vsn` query parameter:
/// - ``Serializer/v1`` (`vsn=1.0.0`, the Python client): a JSON object
///   `{"topic","event","payload","ref","join_ref"}`; the server writes `topic`, `event`,
///   `payload` and always `ref` (a string or null: the Python client refuses a frame without
///   it, or with a number), never `join_ref`, as Phoenix's V1 serializer.
/// - ``Serializer/v2`` (`vsn=2.0.0`, realtime-js): a JSON array `[join_ref, ref, topic, event, payload]`.
///
/// Refs are kept as the client's text, byte for byte: a reply echoes them unchanged.
public struct PhoenixFrame: Equatable, Sendable {
    public var joinRef: String?
    public var ref: String?
    public var topic: String
    public var event: String
    public var payload: JSONValue

    public init(joinRef: String? = nil, ref: String? = nil, topic: String, event: String, payload: JSONValue = .object([])) {
        self.joinRef = joinRef
        self.ref = ref
        self.topic = topic
        self.event = event
        self.payload = payload
    }

    public enum Serializer: String, Sendable {
        case v1 = "1.0.0"
        case v2 = "2.0.0"

        /// The serializer a socket asked for with `vsn`; Phoenix's default, 1.0.0, when it did not.
        /// Throws for a version neither client speaks.
        public init(vsn: String?) throws {
            guard let vsn else {
                self = .v1
                return
            }
            guard let known = Serializer(rawValue: vsn) else {
                throw PhoenixFrameError(message: "unsupported vsn '\(vsn)'; use 1.0.0 or 2.0.0")
            }
            self = known
        }
    }

    /// Decodes a client's text frame. A frame that is not JSON, or not of the serializer's
    /// shape, is a ``PhoenixFrameError`` that says why (the socket drops it and goes on).
    public init(text: String, serializer: Serializer) throws {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw PhoenixFrameError(message: "frame is not JSON: \(error)")
        }
        switch serializer {
        case .v1:
            guard case .object = json else { throw PhoenixFrameError(message: "a vsn 1.0.0 frame is a JSON object") }
            try self.init(joinRef: json["join_ref"], ref: json["ref"], topic: json["topic"], event: json["event"], payload: json["payload"])
        case .v2:
            guard case .array(let items) = json, items.count == 5 else {
                throw PhoenixFrameError(message: "a vsn 2.0.0 frame is an array [join_ref, ref, topic, event, payload]")
            }
            try self.init(joinRef: items[0], ref: items[1], topic: items[2], event: items[3], payload: items[4])
        }
    }

    private init(joinRef: JSONValue?, ref: JSONValue?, topic: JSONValue?, event: JSONValue?, payload: JSONValue?) throws {
        guard let topic = topic?.stringValue else { throw PhoenixFrameError(message: "a frame needs a string \"topic\"") }
        guard let event = event?.stringValue, !event.isEmpty else { throw PhoenixFrameError(message: "a frame needs a string \"event\"") }
        self.init(
            joinRef: try Self.ref(joinRef, "join_ref"), ref: try Self.ref(ref, "ref"), topic: topic, event: event, payload: payload ?? .object([]))
    }

    /// A ref is a string or null; a number (some clients send one) is kept as its digits.
    private static func ref(_ value: JSONValue?, _ name: String) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case .number(let digits)?: return digits
        default: throw PhoenixFrameError(message: "\"\(name)\" must be a string or null")
        }
    }

    /// The frame as the server writes it for this serializer.
    public func text(_ serializer: Serializer) -> String {
        let ref = self.ref.map(JSONValue.string) ?? .null
        switch serializer {
        case .v1:
            return JSONValue.object([("topic", .string(topic)), ("event", .string(event)), ("payload", payload), ("ref", ref)]).jsonText
        case .v2:
            return JSONValue.array([joinRef.map(JSONValue.string) ?? .null, ref, .string(topic), .string(event), payload]).jsonText
        }
    }

    /// A `system` message (spec §6): on a channel's topic, with no ref; `channel` is the topic
    /// without `realtime:`, `extension` `system` or `postgres_changes`.
    public static func system(topic: String, channel: String, extension name: String, message: String, ok: Bool) -> PhoenixFrame {
        PhoenixFrame(
            topic: topic, event: "system",
            payload: .object([
                ("channel", .string(channel)), ("extension", .string(name)), ("message", .string(message)), ("status", .string(ok ? "ok" : "error")),
            ]))
    }

    /// The `phx_reply` to this frame: its topic and refs, `{"status","response"}`.
    public func reply(ok: Bool, response: JSONValue = .object([])) -> PhoenixFrame {
        PhoenixFrame(
            joinRef: joinRef, ref: ref, topic: topic, event: "phx_reply",
            payload: .object([("status", .string(ok ? "ok" : "error")), ("response", response)])
        )
    }
}

public struct PhoenixFrameError: Error, Equatable, CustomStringConvertible {
    public var message: String
    /// A frame that was read whole but cannot be served (a binary broadcast payload): its sender may be answered.
    public var unserved: PhoenixFrame?
    public var description: String { message }

    public init(message: String, unserved: PhoenixFrame? = nil) {
        self.message = message
        self.unserved = unserved
    }
}
