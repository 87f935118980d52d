/// The readable block `pgrelay listen` and `replay` print per change, for an operator at a terminal.
///
/// ```
/// 2026-11-23T10:00:00.123456Z  #42  UPDATE  public.orders
///   status: "open" → "paid"
/// ```
/// INSERT shows the new row and DELETE the old one, one column per line; UPDATE shows only the
/// columns that changed (or says that none did); TRUNCATE shows the header alone; SCHEMA what
/// changed in the table's name and columns.
extension ChangeEvent {
    public var readableText: String {
        var lines = ["\(timestamp)  #\(id)  \(operation.rawValue)  \(table)"]
        switch operation {
        case .insert:
            lines += Self.columnLines(new)
        case .delete:
            lines += Self.columnLines(old)
        case .update:
            let changed = changedColumns
            if changed.isEmpty {
                lines.append("  (no column changed)")
            }
            for column in changed {
                let before = old?[column]?.jsonText ?? "(absent)"
                let after = new?[column]?.jsonText ?? "(absent)"
                lines.append("  \(column): \(before) → \(after)")
            }
        case .truncate:
            break
        case .schema:
            lines += TableShape.differences(from: TableShape(json: old), to: TableShape(json: new)).map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    private static func columnLines(_ row: JSONValue?) -> [String] {
        guard case .object(let members)? = row else { return [] }
        return members.map { "  \($0.key): \($0.value.jsonText)" }
    }
}
