/// A table's shape as a `SCHEMA` event carries it (`old` before the change, `new` after): its
/// name and its columns, each with its number (`pg_attribute.attnum`, which a rename keeps and a
/// drop and add do not), name and type as Postgres names it.
///
/// ```json
/// {"schema":"public","table":"orders","columns":[{"number":1,"name":"id","type":"integer"}]}
/// ```
public struct TableShape: Equatable, Sendable {
    public struct Column: Equatable, Sendable {
        public var number: Int
        public var name: String
        public var type: String
    }

    public var table: TableName
    public var columns: [Column]

    /// Reads a shape from its JSON; nil when it is not one.
    public init?(json: JSONValue?) {
        guard let json, let schema = json["schema"]?.stringValue, let name = json["table"]?.stringValue,
            let columns = json["columns"]?.arrayValue
        else { return nil }
        var read: [Column] = []
        for column in columns {
            guard let number = column["number"].flatMap({ Int($0.jsonText) }), let name = column["name"]?.stringValue,
                let type = column["type"]?.stringValue
            else { return nil }
            read.append(Column(number: number, name: name, type: type))
        }
        self.table = TableName(schema: schema, name: name)
        self.columns = read
    }

    /// What changed from `before` to `after` (nil: the table was dropped), one line each, for a
    /// reader: the table's new name, columns added, dropped, renamed (the same number under
    /// another name) and retyped.
    public static func differences(from before: TableShape?, to after: TableShape?) -> [String] {
        guard let after else { return ["table dropped"] }
        guard let before else { return ["columns: " + after.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ")] }
        var lines: [String] = []
        if before.table != after.table { lines.append("table renamed from \(before.table) to \(after.table)") }
        let old = Dictionary(before.columns.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
        let new = Dictionary(after.columns.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
        for column in before.columns where new[column.number] == nil {
            lines.append("- \(column.name) \(column.type) (column \(column.number) dropped)")
        }
        for column in after.columns {
            guard let was = old[column.number] else {
                lines.append("+ \(column.name) \(column.type) (column \(column.number) added)")
                continue
            }
            if was.name != column.name { lines.append("~ \(was.name) renamed to \(column.name) (column \(column.number))") }
            if was.type != column.type { lines.append("~ \(column.name): \(was.type) → \(column.type) (column \(column.number))") }
        }
        return lines
    }
}
