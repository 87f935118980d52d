/// What the fuzz targets (`fuzz/run`) check on each input, shared with the regression tests that
/// replay the inputs they found: any input may be refused with an error, none may crash, hang
/// or break an invariant (a trap is the finding).
public enum FuzzChecks {
    /// The query-string filter parser, then evaluating what it parsed against typed and untyped rows.
    public static func filter(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let request = try? StreamRequest(query: text) else { return }
        _ = request.filter.problem(types: sampleTypes)
        for row in sampleRows {
            _ = try? request.filter.matches(row)
            _ = try? request.filter.matches(row, types: sampleTypes)
        }
    }

    /// The JSON decoder: whatever parses serializes to text that parses to the same value.
    public static func json(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let value = try? JSONValue(parsing: text) else { return }
        let again: JSONValue
        do {
            again = try JSONValue(parsing: value.jsonText)
        } catch {
            preconditionFailure("serialized JSON does not parse: \(error)")
        }
        precondition(again == value, "JSON changed in a round trip")
    }

    /// Change decoding: a log record (JSON) expanded into changes or a message, each encoded again.
    public static func change(_ bytes: [UInt8]) {
        guard bytes.count > 1 else { return }
        let count = Int(bytes[0] % 8) + 1
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        guard let record = try? JSONValue(parsing: text) else { return }
        guard let entries = try? LogRecord.entries(in: record, count: count, firstID: 1, timestamp: "2026-12-03T12:00:00.000000Z") else { return }
        precondition(entries.count == count, "a record of n = \(count) expanded to \(entries.count) entries")
        for entry in entries {
            switch entry {
            case .change(let change):
                let decoded = try? ChangeEvent(jsonText: change.canonicalJSONText)
                precondition(decoded != nil, "a decoded change does not decode from its own JSON")
            case .message(let message):
                let again = try? JSONValue(parsing: message.canonicalJSONText)
                precondition(again == message.canonicalJSON, "a message's JSON changed in a round trip")
            }
        }
    }

    /// WebSocket client messages: the native protocol's, and Phoenix frames in both framings,
    /// which must read back what they write.
    public static func webSocket(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? WebSocketClientMessage(text: text)
        for serializer in [PhoenixFrame.Serializer.v1, .v2] {
            guard let frame = try? PhoenixFrame(text: text, serializer: serializer) else { continue }
            let again = try? PhoenixFrame(text: frame.text(serializer), serializer: serializer)
            precondition(
                again?.topic == frame.topic && again?.ref == frame.ref && again?.payload == frame.payload, "a Phoenix frame changed in a round trip")
        }
        if let frame = try? PhoenixFrame(binary: bytes), let pushed = try? frame.broadcastPush() {
            let again = try? PhoenixFrame(binary: pushed)
            precondition(
                again?.topic == frame.topic && again?.ref == frame.ref && again?.payload == frame.payload, "a binary push changed in a round trip")
        }
    }

    static let sampleTypes: [String: ColumnType] = [
        "a": .exact, "b": .float8, "c": .timestamptz, "d": .text, "e": .uuid, "f": .date, "g": .integer(bits: 32), "h": .paddedText,
    ]

    static let sampleRows: [JSONValue] = [
        .object([("a", .number("1e5")), ("b", .number("-0")), ("c", .string("2026-01-01T00:00:00+00:00")), ("d", .string("é")), ("e", .null)]),
        .object([("a", .string("NaN")), ("f", .string("infinity")), ("g", .number("7")), ("h", .string("ab   ")), ("x", .array([.number("1")]))]),
        .null,
    ]
}
