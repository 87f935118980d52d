/// One committed row change: the unit every pgrelay reader and stream deals in.
///
/// Its canonical JSON form (``canonicalJSONText``) is what `listen --json`, `replay --json` and
/// the streams print:
///
/// ```json
/// {"id":42,"timestamp":"2026-11-23T10:00:00.123456Z","operation":"UPDATE","schema":"public",
///  "table":"orders","new":{"id":7,"status":"paid"},"old":{"id":7,"status":"open"}}
/// ```
public struct ChangeEvent: Sendable, Equatable {
    /// The resume token: assigned in commit order, strictly increasing across all subscribed tables.
    public var id: Int64
    /// Commit time, ISO-8601 in UTC with microseconds: `2026-11-23T10:00:00.123456Z`.
    public var timestamp: String
    public var operation: Operation
    public var table: TableName
    /// The row after the change; nil for DELETE and TRUNCATE.
    public var new: JSONValue?
    /// The row before the change; nil for INSERT and TRUNCATE.
    public var old: JSONValue?

    public init(id: Int64, timestamp: String, operation: Operation, table: TableName, new: JSONValue?, old: JSONValue?) {
        self.id = id
        self.timestamp = timestamp
        self.operation = operation
        self.table = table
        self.new = new
        self.old = old
    }

    /// The row a filter looks at: `new`, or `old` for a DELETE.
    public var row: JSONValue? { operation == .delete ? old : new }

    /// For an UPDATE, the columns whose value differs between `old` and `new`, in column order.
    public var changedColumns: [String] {
        guard operation == .update, case .object(let after)? = new else { return [] }
        let before = old
        return after.compactMap { member in before?[member.key] == member.value ? nil : member.key }
    }

    /// The canonical JSON form as a value.
    public var canonicalJSON: JSONValue {
        .object([
            ("id", .number(String(id))),
            ("timestamp", .string(timestamp)),
            ("operation", .string(operation.rawValue)),
            ("schema", .string(table.schema)),
            ("table", .string(table.name)),
            ("new", new ?? .null),
            ("old", old ?? .null),
        ])
    }

    /// The canonical JSON form as compact text, one line.
    public var canonicalJSONText: String { canonicalJSON.jsonText }
}
