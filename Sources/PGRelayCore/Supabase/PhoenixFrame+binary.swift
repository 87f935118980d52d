/// realtime-js' binary frame for a broadcast push, vsn 2.0.0 (spec §2.2): every `channel.send`
/// of a broadcast goes out as one, so a server for realtime-js must read it.
///
/// Kind 3, "user broadcast push": `u8 kind=3, u8 len(join_ref), u8 len(ref), u8 len(topic),
/// u8 len(user_event), u8 len(metadata), u8 encoding (0 binary, 1 JSON)`, then those fields'
/// bytes and the payload. It reads as a `broadcast` frame with payload
/// `{"type":"broadcast","event":<user_event>,"payload":<payload>}`. Broadcasts go back to
/// realtime-js as text arrays, which it reads as well as kind 4, so pgrelay never writes binary.
extension PhoenixFrame {
    public static let broadcastPushKind: UInt8 = 3

    /// Reads a client's binary frame. A frame of another kind, a truncated one, or one whose
    /// fields are not UTF-8 or whose JSON payload does not parse is a ``PhoenixFrameError``; a
    /// well-formed push whose payload is binary (encoding 0) is one too, carrying the frame in
    /// ``PhoenixFrameError/unserved`` so that its sender can be answered: pgrelay's channels carry JSON.
    public init(binary bytes: [UInt8]) throws {
        guard let kind = bytes.first else { throw PhoenixFrameError(message: "an empty binary frame") }
        guard kind == Self.broadcastPushKind else {
            throw PhoenixFrameError(message: "binary frames of kind \(kind) are not read; kind 3 (a broadcast push) is")
        }
        guard bytes.count >= 7 else {
            throw PhoenixFrameError(message: "a kind 3 frame starts with a 7-byte header; this one has \(bytes.count) bytes")
        }
        var offset = 7
        var fields: [String] = []
        for (index, name) in ["join_ref", "ref", "topic", "event", "metadata"].enumerated() {
            let length = Int(bytes[1 + index])
            guard offset + length <= bytes.count else { throw PhoenixFrameError(message: "a kind 3 frame ends inside its \(name)") }
            guard let text = String(validating: bytes[offset..<offset + length], as: UTF8.self) else {
                throw PhoenixFrameError(message: "a kind 3 frame's \(name) is not UTF-8")
            }
            fields.append(text)
            offset += length
        }
        guard !fields[2].isEmpty, !fields[3].isEmpty else { throw PhoenixFrameError(message: "a kind 3 frame needs a topic and an event") }
        var frame = PhoenixFrame(
            joinRef: fields[0].isEmpty ? nil : fields[0], ref: fields[1].isEmpty ? nil : fields[1], topic: fields[2], event: "broadcast",
            payload: .object([("type", .string("broadcast")), ("event", .string(fields[3]))])
        )
        switch bytes[6] {
        case 1:
            guard let text = String(validating: bytes[offset...], as: UTF8.self), let payload = try? JSONValue(parsing: text) else {
                throw PhoenixFrameError(message: "a kind 3 frame with JSON encoding carries a payload that is not JSON")
            }
            frame.payload = .object([("type", .string("broadcast")), ("event", .string(fields[3])), ("payload", payload)])
            self = frame
        case 0:
            throw PhoenixFrameError(
                message: "a binary broadcast payload cannot be relayed: pgrelay's channels carry JSON; send an object", unserved: frame)
        case let encoding:
            throw PhoenixFrameError(message: "a kind 3 frame's encoding is 0 (binary) or 1 (JSON), not \(encoding)")
        }
    }

    /// This broadcast as realtime-js pushes it: a kind 3 frame with a JSON payload (fields over
    /// 255 bytes cannot be framed, as in realtime-js).
    public func broadcastPush() throws -> [UInt8] {
        let fields = [joinRef ?? "", ref ?? "", topic, payload["event"]?.stringValue ?? "", ""].map { Array($0.utf8) }
        guard fields.allSatisfy({ $0.count <= 255 }) else { throw PhoenixFrameError(message: "a kind 3 frame's fields are at most 255 bytes each") }
        return [Self.broadcastPushKind] + fields.map { UInt8($0.count) } + [1] + fields.flatMap { $0 }
            + Array((payload["payload"] ?? .object([])).jsonText.utf8)
    }
}
