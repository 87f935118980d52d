import Foundation

/// A row filter in PostgREST's syntax, the grammar Supabase users already write:
///
/// ```
/// status=eq.paid&total=gt.100            several parameters are ANDed
/// status=not.in.(open,"on hold")         not. negates any operator
/// or=(status.eq.paid,and(total.gt.100,total.lt.200))
/// ```
///
/// Operators: `eq neq gt gte lt lte like ilike in is isdistinct match imatch` (the last two
/// are regular expressions, ``RegularExpression``). Evaluated against a change's row (`new`,
/// or `old` for a DELETE); comparison follows the JSON type of the row's value: numbers
/// numerically, strings as text, booleans as `true`/`false`. A missing column or a null value
/// matches only `is.null` (as in SQL, `eq`, `neq` and the rest are not true for null).
/// Parse with ``init(query:)`` or ``init(parameters:)``; both report where a filter failed.
public indirect enum RowFilter: Equatable, Sendable {
    case and([RowFilter])
    case or([RowFilter])
    case not(RowFilter)
    case condition(column: String, op: FilterOperator, operand: FilterOperand)

    /// The filter that keeps every row.
    public static let all = RowFilter.and([])

    /// True when `row` passes. Throws ``FilterEvaluationError`` when a condition cannot be
    /// evaluated against this row (a number column compared with text that is not a number).
    /// `types`: the table's column types (``ColumnType``); a column without one compares by its JSON value.
    public func matches(_ row: JSONValue?, types: [String: ColumnType] = [:]) throws -> Bool {
        switch self {
        case .and(let filters): return try filters.allSatisfy { try $0.matches(row, types: types) }
        case .or(let filters): return try filters.contains { try $0.matches(row, types: types) }
        case .not(let filter): return try !filter.matches(row, types: types)
        case .condition(let column, let op, let operand):
            return try op.evaluate(row?[column] ?? .null, operand, column: column, type: types[column] ?? .json)
        }
    }

    /// The first operand that is not a value of its column's type, as a message naming the
    /// column: a stream is refused with it when it starts, as Postgres would refuse the query.
    public func problem(types: [String: ColumnType]) -> String? {
        mismatch(types: types).map { "filter on column '\($0.column)': \($0.reason)" }
    }

    /// The first column the table does not have (`types` holds every column: a filter on any other
    /// could never match, as Postgres would refuse it), or operand that is not a value of its
    /// column's type: the column and why.
    public func mismatch(types: [String: ColumnType]) -> (column: String, reason: String)? {
        switch self {
        case .and(let filters), .or(let filters):
            for filter in filters { if let found = filter.mismatch(types: types) { return found } }
            return nil
        case .not(let filter):
            return filter.mismatch(types: types)
        case .condition(let column, let op, let operand):
            guard let type = types[column] else {
                return (column, "the table has no such column; its columns are \(types.keys.sorted().joined(separator: ", "))")
            }
            guard op != .like, op != .ilike else { return nil }
            let values: [String]
            switch operand {
            case .value(let text): values = [text]
            case .list(let items): values = items
            case .null, .true, .false, .regex: values = []
            }
            for value in values { if let problem = type.problem(with: value) { return (column, problem) } }
            return nil
        }
    }
}

extension RowFilter {
    /// The same filter with every operand text passed through `transform` (claims bound into a
    /// scope), which is told whether the text is a `like`/`ilike` pattern. A regular expression
    /// is used as written: claims are not bound into it.
    func binding(_ transform: (String, _ pattern: Bool) -> String) -> RowFilter {
        switch self {
        case .and(let filters): return .and(filters.map { $0.binding(transform) })
        case .or(let filters): return .or(filters.map { $0.binding(transform) })
        case .not(let filter): return .not(filter.binding(transform))
        case .condition(let column, let op, let operand):
            let pattern = op == .like || op == .ilike
            switch operand {
            case .value(let text): return .condition(column: column, op: op, operand: .value(transform(text, pattern)))
            case .list(let items): return .condition(column: column, op: op, operand: .list(items.map { transform($0, false) }))
            case .null, .true, .false, .regex: return self
            }
        }
    }

    /// Calls `body` with each column the filter names.
    func visitColumns(_ body: (String) -> Void) {
        switch self {
        case .and(let filters), .or(let filters): for filter in filters { filter.visitColumns(body) }
        case .not(let filter): filter.visitColumns(body)
        case .condition(let column, _, _): body(column)
        }
    }
}

public enum FilterOperator: String, CaseIterable, Sendable {
    case eq, neq, gt, gte, lt, lte, like, ilike, `in`, `is`, isdistinct, match, imatch
}

public enum FilterOperand: Equatable, Sendable {
    case value(String)
    case list([String])
    case null, `true`, `false`
    /// The operand of `match` and `imatch`, compiled when the filter is parsed.
    case regex(RegularExpression)
}

/// Why a filter could not be evaluated against a row: the stream that asked for it ends with this message.
public struct FilterEvaluationError: Error, Equatable, CustomStringConvertible {
    public var column: String
    public var reason: String
    public var description: String { "filter on column '\(column)' cannot be evaluated: \(reason)" }

    public init(column: String, reason: String) {
        self.column = column
        self.reason = reason
    }
}

/// Where and why a filter did not parse.
public struct RowFilterError: Error, Equatable, CustomStringConvertible {
    /// The parameter as given, `status=eqq.paid`.
    public var parameter: String
    /// Character offset in the parameter's value where parsing failed.
    public var offset: Int
    public var reason: String

    public var description: String { "filter '\(parameter)' is invalid at character \(offset + 1): \(reason)" }
}
