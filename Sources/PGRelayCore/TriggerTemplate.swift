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

    /// The SQL that installs capture triggers on `table` for `events`, announcing on `channel`.
    public func renderSubscribe(table: TableName, channel: String, events: EventSet) -> String {
        let rowEvents = events.sorted.filter { $0 != .truncate }.map { $0.rawValue.lowercased() }.joined(separator: " or ")
        var sections: Set<String> = []
        if !rowEvents.isEmpty { sections.insert("rows") }
        if events.operations.contains(.truncate) { sections.insert("truncate") }
        return render(
            values: ["table": table.quoted, "channel": SQLQuoting.literal(channel), "row_events": rowEvents],
            sections: sections
        )
    }

    /// The SQL that removes the capture triggers from `table`.
    public func renderUnsubscribe(table: TableName) -> String {
        render(values: ["table": table.quoted], sections: [])
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
