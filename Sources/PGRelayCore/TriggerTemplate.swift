import Foundation

/// A checked condition as Postgres rendered it over a row named `pgrelay_row` (the condition
/// function's argument), and over `new` and `old` (a row trigger's WHEN clause).
public struct CompiledCondition: Equatable, Sendable {
    public var row: SubscriptionCondition
    public var new: SubscriptionCondition
    public var old: SubscriptionCondition

    public init(row: SubscriptionCondition, new: SubscriptionCondition, old: SubscriptionCondition) {
        self.row = row
        self.new = new
        self.old = old
    }
}

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
    /// With a `condition`, INSERTs and DELETEs are captured by the subscription's own function,
    /// which logs only matching rows, and an UPDATE only when its old or its new row matches (so
    /// a row that leaves or enters the condition is logged, with both). The table's UPDATE
    /// function has no SET clause unless there is a condition (``fixedSettings``): Postgres renders
    /// a condition's pg_catalog operators without their schema, so it needs a fixed search path.
    /// `captureRows` is the capture_rows.sql template, rendered for a subscription with a condition.
    public func renderSubscribe(
        table: TableName, channel: String, events: EventSet, notify: NotifyMode = .default, key: [KeyColumn], condition: CompiledCondition? = nil,
        captureRows: TriggerTemplate? = nil
    ) -> String {
        var sections: Set<String> = []
        if condition != nil { sections.insert("condition") }
        let operations = events.operations
        if operations.contains(.insert) { sections.insert("insert") }
        if operations.contains(.delete) { sections.insert("delete") }
        if operations.contains(.update) { sections.formUnion(key.isEmpty ? ["update_rows"] : ["update_keyed_function", "update_keyed"]) }
        if operations.contains(.truncate) { sections.insert("truncate") }
        let arguments = [channel, notify.rawValue, table.schema, table.name] + key.map(\.name)
        let function = Self.conditionFunction(channel: channel)
        let ownCapture = condition.flatMap { _ in
            captureRows?.renderCaptureRows(
                function: Self.rowsFunction(channel: channel), settings: Self.searchPathOnly, matches: "\(function)(r::\(table.quoted))")
        }
        return render(
            values: [
                "table": table.quoted,
                "args": arguments.map(SQLQuoting.literal).joined(separator: ", "),
                "update_function": Self.updateFunction(channel: channel),
                "settings": condition == nil ? "" : Self.fixedSettings,
                "key_join": key.map(\.joinCondition).joined(separator: " and "),
                "rows_function": condition == nil ? "realtime.capture_rows" : Self.rowsFunction(channel: channel),
                "condition_function": function,
                "capture_rows": ownCapture ?? "",
                "condition_body": condition.map { Self.conditionBody($0.row) } ?? "",
                // Transition tables' rows are anonymous records: cast to the table's type.
                "update_where": condition == nil ? "true" : "(\(function)(n::\(table.quoted)) or \(function)(o::\(table.quoted)))",
                // A WHEN clause runs with the writer's rights, who may not use the realtime schema:
                // the condition itself, rendered over NEW and OLD.
                "update_when": condition.map {
                    " when (coalesce(\(SQLQuoting.condition($0.new)), false) or coalesce(\(SQLQuoting.condition($0.old)), false))"
                } ?? "",
            ],
            sections: sections
        )
    }

    /// Renders capture_rows.sql as `function`, with the SET clause `settings` (empty or starting
    /// with a newline), logging the rows for which `matches` (SQL over the row `r`) holds.
    public func renderCaptureRows(function: String = "realtime.capture_rows", settings: String = "", matches: String = "true") -> String {
        render(values: ["rows_function": function, "settings": settings, "matches": matches], sections: [])
    }

    /// The SET clause of a subscription's own capture_rows: the search path alone (capture_rows
    /// prints values alike whatever the writer's settings).
    public static let searchPathOnly = "\nset search_path = pg_catalog, pg_temp"

    /// The SET clause of the UPDATE function of a subscription with a condition: the search path,
    /// and every setting that changes how a captured value prints.
    public static let fixedSettings = """

        set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
        set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
        """

    /// The SQL that removes the capture triggers from `table` (when it still exists) and the
    /// subscription's UPDATE function, under its name and under the name schema version 4 gave it.
    public func renderUnsubscribe(table: TableName?, channel: String, formerlyNamed: TableName) -> String {
        var sections: Set<String> = ["function"]
        if table != nil { sections.insert("table") }
        return render(
            values: [
                "table": table?.quoted ?? "",
                "update_function": Self.updateFunction(channel: channel),
                "legacy_update_function": Self.legacyUpdateFunction(of: formerlyNamed),
                "rows_function": Self.rowsFunction(channel: channel),
                "condition_function": Self.conditionFunction(channel: channel),
            ],
            sections: sections
        )
    }

    /// The quoted name of a subscription's UPDATE capture function: `realtime."capture_update_<hash>"`,
    /// named by a hash of its channel, which is the subscription's for good: a renamed table's
    /// function keeps its name, and a new table that takes the old name gets a function of its own.
    public static func updateFunction(channel: String) -> String {
        hashedFunction(ChannelName.fnv1a64("channel:" + channel))
    }

    /// The quoted name of a subscription's condition: `realtime."capture_condition_<hash>"(anyelement)`.
    public static func conditionFunction(channel: String) -> String {
        hashedFunction(ChannelName.fnv1a64("channel:" + channel), prefix: "capture_condition_")
    }

    /// The quoted name of the INSERT and DELETE capture of a subscription with a condition.
    public static func rowsFunction(channel: String) -> String {
        hashedFunction(ChannelName.fnv1a64("channel:" + channel), prefix: "capture_rows_")
    }

    /// The condition function's body, as one literal: the condition Postgres rendered, with each
    /// column as `pgrelay_row.<column>` (the function's argument).
    static func conditionBody(_ condition: SubscriptionCondition) -> String {
        SQLQuoting.literal("select coalesce(\(SQLQuoting.condition(condition)), false)")
    }

    /// The name schema version 4 gave the function: a hash of the table's name when it was subscribed.
    public static func legacyUpdateFunction(of table: TableName) -> String {
        hashedFunction(ChannelName.fnv1a64(table.quoted))
    }

    private static func hashedFunction(_ hash: UInt64, prefix: String = "capture_update_") -> String {
        let hex = String(hash, radix: 16)
        return "realtime." + SQLQuoting.identifier(prefix + String(repeating: "0", count: 16 - hex.count) + hex)
    }

    /// Substitutes `{{key}}` with already-quoted values and keeps the named sections, in one
    /// pass over the template: text that a value brings in (a table named `{{args}}`) is never
    /// read again as a placeholder. Lines before the first section marker are always kept; an
    /// unknown placeholder is left as it is. Comment lines are dropped first: a value inside
    /// one (a quoted table name may hold a newline) would end the comment and run as SQL.
    public func render(values: [String: String], sections: Set<String>) -> String {
        var kept: [Substring] = []
        var keeping = true
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-- ["), trimmed.hasSuffix("]") {
                keeping = sections.contains(String(trimmed.dropFirst(4).dropLast()))
                continue
            }
            if keeping, !trimmed.hasPrefix("--") { kept.append(line) }
        }
        let template = kept.joined(separator: "\n")
        var sql = ""
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            sql += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}"),
                let value = values[String(rest[open.upperBound..<close.lowerBound])]
            else {
                sql += "{{"
                rest = rest[open.upperBound...]
                continue
            }
            sql += value
            rest = rest[close.upperBound...]
        }
        sql += rest
        return sql
    }
}

/// A key column of a subscribed table and the schema of its type's equality operator (from the
/// key index's operator class): the UPDATE capture joins old and new rows with exactly that
/// operator, whatever the search_path (a citext key compares as citext, not as text).
public struct KeyColumn: Equatable, Sendable, ExpressibleByStringLiteral {
    public var name: String
    public var operatorSchema: String

    public init(name: String, operatorSchema: String = "pg_catalog") {
        self.name = name
        self.operatorSchema = operatorSchema
    }

    public init(stringLiteral name: String) { self.init(name: name) }

    /// `n."k" operator(pg_catalog.=) o."k"`
    var joinCondition: String {
        let column = SQLQuoting.identifier(name)
        return "n.\(column) operator(\(SQLQuoting.identifier(operatorSchema)).=) o.\(column)"
    }
}
