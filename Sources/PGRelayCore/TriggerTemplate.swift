import Foundation

/// Renders the SQL files of `triggers/sql` for one table.
///
/// Templates use `{{name}}` placeholders, and `-- [section]` lines that start a section kept
/// only when the caller asks for it. Every value is quoted here (identifiers with
/// ``SQLQuoting/identifier(_:)``, literals with ``SQLQuoting/literal(_:)``), so a table named
/// `x"; drop table y; --` renders as a harmless identifier.
public struct TriggerTemplate: Sendable {
    public var text: String

    public init(_ text: String) { self.text = text }

    /// The SQL that installs capture triggers on `table` for `events`, announcing on `channel`
    /// as `notify` says. `key` is the table's primary key (or replica identity index) columns:
    /// UPDATEs are captured per statement, paired by key, when there is one, and per row otherwise.
    public func renderSubscribe(table: TableName, channel: String, events: EventSet, notify: NotifyMode = .default, key: [String]) -> String {
        var sections: Set<String> = []
        let operations = events.operations
        if operations.contains(.insert) { sections.insert("insert") }
        if operations.contains(.delete) { sections.insert("delete") }
        if operations.contains(.update) { sections.insert(key.isEmpty ? "update_rows" : "update_keyed") }
        if operations.contains(.truncate) { sections.insert("truncate") }
        let arguments = [channel, notify.rawValue, table.schema, table.name] + key
        let keyJoin = key.map { "n.\(SQLQuoting.identifier($0)) = o.\(SQLQuoting.identifier($0))" }.joined(separator: " and ")
        return render(
            values: [
                "table": table.quoted,
                "args": arguments.map(SQLQuoting.literal).joined(separator: ", "),
                "update_function": Self.updateFunction(of: table),
                "key_join": keyJoin,
            ],
            sections: sections
        )
    }

    /// The SQL that removes the capture triggers from `table` (when it still exists) and its UPDATE function.
    public func renderUnsubscribe(table: TableName, tableExists: Bool = true) -> String {
        var sections: Set<String> = ["function"]
        if tableExists { sections.insert("table") }
        return render(values: ["table": table.quoted, "update_function": Self.updateFunction(of: table)], sections: sections)
    }

    /// The quoted name of the table's own UPDATE capture function: `realtime."capture_update_<hash>"`,
    /// named by a hash of the table's name so that `unsubscribe` finds it even after the table is gone.
    public static func updateFunction(of table: TableName) -> String {
        let hash = String(ChannelName.fnv1a64(table.quoted), radix: 16)
        return "realtime." + SQLQuoting.identifier("capture_update_" + String(repeating: "0", count: 16 - hash.count) + hash)
    }

    /// Substitutes `{{key}}` with already-quoted values and keeps the named sections.
    /// Lines before the first section marker are always kept.
    public func render(values: [String: String], sections: Set<String>) -> String {
        var kept: [Substring] = []
        var keeping = true
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-- ["), trimmed.hasSuffix("]") {
                keeping = sections.contains(String(trimmed.dropFirst(4).dropLast()))
                continue
            }
            if keeping { kept.append(line) }
        }
        var sql = kept.joined(separator: "\n")
        for (key, value) in values {
            sql = sql.replacingOccurrences(of: "{{\(key)}}", with: value)
        }
        return sql
    }
}
