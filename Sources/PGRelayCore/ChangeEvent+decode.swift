/// Why a change in canonical JSON, or a log record, could not be turned into a change event.
public struct ChangeEventDecodingError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { "invalid change: \(reason)" }
}

extension ChangeEvent {
    /// Decodes the canonical JSON form, as `listen --json`, `replay --json` and the streams print it.
    public init(json: JSONValue) throws {
        guard let timestamp = json["timestamp"]?.stringValue else { throw ChangeEventDecodingError(reason: "missing \"timestamp\"") }
        try self.init(id: ChangeEvent.id(in: json), timestamp: timestamp, record: json)
    }

    /// Decodes the canonical JSON text.
    public init(jsonText: String) throws {
        do {
            try self.init(json: JSONValue(parsing: jsonText))
        } catch let error as JSONParseError {
            throw ChangeEventDecodingError(reason: error.description)
        }
    }

    /// Builds an event from a log record (`{"operation","schema","table","new","old"}`) and the
    /// id and commit time the log assigned it.
    public init(id: Int64, timestamp: String, record: JSONValue) throws {
        let header = try Header(record)
        let new = record["new"].flatMap { $0.isNull ? nil : $0 }
        let old = record["old"].flatMap { $0.isNull ? nil : $0 }
        for (name, value) in [("new", new), ("old", old)] {
            if let value {
                guard case .object = value else { throw ChangeEventDecodingError(reason: "\"\(name)\" must be an object or null") }
            }
        }
        self.init(id: id, timestamp: timestamp, operation: header.operation, table: header.table, new: new, old: old)
    }

    static func id(in json: JSONValue) throws -> Int64 {
        guard case .number(let text)? = json["id"], let id = Int64(text), id > 0 else {
            throw ChangeEventDecodingError(reason: "\"id\" must be a positive integer")
        }
        return id
    }

    /// The fields every change and log record has.
    struct Header {
        var operation: Operation
        var table: TableName

        init(_ json: JSONValue) throws {
            guard case .object = json else { throw ChangeEventDecodingError(reason: "expected a JSON object") }
            guard let op = json["operation"]?.stringValue else { throw ChangeEventDecodingError(reason: "missing \"operation\"") }
            guard let operation = Operation(rawValue: op) else { throw ChangeEventDecodingError(reason: "unknown operation '\(op)'") }
            guard let schema = json["schema"]?.stringValue, let name = json["table"]?.stringValue, !schema.isEmpty, !name.isEmpty else {
                throw ChangeEventDecodingError(reason: "missing \"schema\" or \"table\"")
            }
            self.operation = operation
            self.table = TableName(schema: schema, name: name)
        }
    }
}
