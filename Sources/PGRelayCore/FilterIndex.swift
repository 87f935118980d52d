import Foundation

/// Subscribers' equality filters (`col=eq.value`, `col=in.(a,b)`) indexed by column and value,
/// so that a change is evaluated only against the subscribers that can match it: with 10,000
/// subscribers each filtering `id=eq.N`, one change finds its one subscriber by a hash lookup.
///
/// The index only narrows: ``candidates(for:)`` returns every subscriber that could match (and
/// perhaps a few that do not), and the caller evaluates the whole filter on those. A filter with
/// no equality condition among its top-level `and` terms (or one column's equalities in each term
/// of an `or`) is a candidate for every change.
///
/// ```swift
/// var index = FilterIndex<Int>()
/// index.insert(1, filter: try RowFilter(query: "id=eq.7"))
/// index.insert(2, filter: .all)
/// index.candidates(for: .object([("id", .number("7"))]))   // [1, 2] in some order
/// ```
public struct FilterIndex<Key: Hashable & Sendable>: Sendable {
    /// Subscribers that match no indexable condition: candidates for every change.
    private var unindexed: Set<Key> = []
    /// column → value → subscribers whose filter requires that column to equal that value.
    private var byColumn: [String: [FilterIndexValue: Set<Key>]] = [:]
    /// column → every subscriber indexed on it, for rows whose value cannot be keyed (JSON arrays, objects).
    private var everyoneOn: [String: Set<Key>] = [:]
    private var placement: [Key: (column: String, values: [FilterIndexValue])] = [:]

    public init() {}

    public var count: Int { unindexed.count + placement.count }
    public var isEmpty: Bool { count == 0 }

    public mutating func insert(_ key: Key, filter: RowFilter) {
        remove(key)
        guard let (column, values) = Self.equality(in: filter) else {
            unindexed.insert(key)
            return
        }
        placement[key] = (column, values)
        everyoneOn[column, default: []].insert(key)
        for value in values { byColumn[column, default: [:]][value, default: []].insert(key) }
    }

    public mutating func remove(_ key: Key) {
        if unindexed.remove(key) != nil { return }
        guard let (column, values) = placement.removeValue(forKey: key) else { return }
        everyoneOn[column]?.remove(key)
        if everyoneOn[column]?.isEmpty == true { everyoneOn[column] = nil }
        for value in values {
            byColumn[column]?[value]?.remove(key)
            if byColumn[column]?[value]?.isEmpty == true { byColumn[column]?[value] = nil }
        }
        if byColumn[column]?.isEmpty == true { byColumn[column] = nil }
    }

    /// Every subscriber: what a TRUNCATE concerns (it has no row, and empties every filter's rows).
    public var everyone: [Key] { Array(unindexed) + Array(placement.keys) }

    /// Every subscriber whose filter could pass `row` (a change's `new`, or `old` for a DELETE).
    public func candidates(for row: JSONValue?) -> [Key] {
        var found = Array(unindexed)
        guard !byColumn.isEmpty || !everyoneOn.isEmpty else { return found }
        for (column, everyone) in everyoneOn {
            let value = row?[column] ?? .null
            switch FilterIndexValue.of(value) {
            case .some(let key):
                if let keys = byColumn[column]?[key] { found.append(contentsOf: keys) }
            case .none where value.isNull:
                continue  // eq and in are never true for null
            case .none:
                found.append(contentsOf: everyone)  // cannot be keyed: let the filter decide
            }
        }
        return found
    }

    /// The first equality condition a row must satisfy for `filter` to pass, with every value
    /// that satisfies it, or nil when there is none.
    static func equality(in filter: RowFilter) -> (column: String, values: [FilterIndexValue])? {
        switch filter {
        case .condition(let column, .eq, .value(let text)):
            return FilterIndexValue.operand(text).map { (column, $0) }
        case .condition(let column, .in, .list(let options)):
            var values: Set<FilterIndexValue> = []
            for option in options {
                guard let keys = FilterIndexValue.operand(option) else { return nil }
                values.formUnion(keys)
            }
            return (column, Array(values))
        case .and(let terms):
            for term in terms { if let found = equality(in: term) { return found } }
            return nil
        case .or(let terms):
            // Every term requires the same column to equal one of its values: then the column
            // must equal one of all of them (a Supabase channel's bindings, `id=eq.1` or `id=eq.2`).
            var column: String?
            var values: Set<FilterIndexValue> = []
            for term in terms {
                guard let (termColumn, termValues) = equality(in: term), column == nil || column == termColumn else { return nil }
                column = termColumn
                values.formUnion(termValues)
            }
            return column.map { ($0, Array(values)) }
        default:
            return nil
        }
    }
}

/// A row value or operand reduced to what `eq` compares: numbers numerically, text exactly,
/// booleans by value (see ``FilterOperator``'s comparison rules).
enum FilterIndexValue: Hashable, Sendable {
    case number(String)
    case text(String)
    case bool(Bool)

    /// Numbers longer than this are not keyed: Decimal keeps 38 digits, and two long numbers
    /// that compare equal could print differently.
    static let longestKeyedNumber = 30

    /// The key of a row's value; nil for null and for values that cannot be keyed.
    static func of(_ value: JSONValue) -> FilterIndexValue? {
        switch value {
        case .string(let s): return .text(s)
        case .bool(let b): return .bool(b)
        case .number(let n): return numberKey(n)
        default: return nil
        }
    }

    /// Every key a row's value could have and still equal the operand `text`; nil when a
    /// number too long to key could equal it.
    static func operand(_ text: String) -> [FilterIndexValue]? {
        var keys: [FilterIndexValue] = [.text(text)]
        if FilterOperator.decimal(text) != nil {
            guard let key = numberKey(text) else { return nil }
            keys.append(key)
        }
        if let bool = Bool(text.lowercased()) { keys.append(.bool(bool)) }
        return keys
    }

    private static func numberKey(_ text: String) -> FilterIndexValue? {
        guard text.count <= longestKeyedNumber, let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            return nil
        }
        return FilterIndexValue.number(decimal.description)
    }
}
