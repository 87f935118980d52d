import Foundation

extension RowFilter {
    /// Parses a query string of filters: `status=eq.paid&total=gt.100`, percent-encoded or not.
    public init(query: String) throws {
        var parameters: [(name: String, value: String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pieces[0]).removingPercentEncoding ?? String(pieces[0])
            let value = pieces.count > 1 ? (String(pieces[1]).removingPercentEncoding ?? String(pieces[1])) : ""
            parameters.append((name, value))
        }
        try self.init(parameters: parameters)
    }

    /// Parses decoded query parameters, each one filter; together they are ANDed.
    public init(parameters: [(name: String, value: String)]) throws {
        var filters: [RowFilter] = []
        for (name, value) in parameters {
            var parser = FilterParser(parameter: "\(name)=\(value)", text: Array(value))
            filters.append(try parser.parseParameter(name: name))
        }
        self = filters.count == 1 ? filters[0] : .and(filters)
    }
}

/// Recursive descent over one parameter's value.
struct FilterParser {
    let parameter: String
    let text: [Character]
    var index = 0
    static let maximumDepth = 32

    init(parameter: String, text: [Character]) {
        self.parameter = parameter
        self.text = text
    }

    func error(_ reason: String, at offset: Int? = nil) -> RowFilterError {
        RowFilterError(parameter: parameter, offset: offset ?? index, reason: reason)
    }

    /// `column=[not.]op.value`, or `or=(...)`, `and=(...)`, `not.or=(...)`.
    mutating func parseParameter(name: String) throws -> RowFilter {
        guard !name.isEmpty else { throw error("the column name before '=' is missing") }
        var logical = name
        var negated = false
        if logical.hasPrefix("not.") {
            negated = true
            logical.removeFirst(4)
        }
        let filter: RowFilter
        if logical == "or" || logical == "and" {
            guard index < text.count, text[index] == "(" else {
                throw error("\(logical)= takes a list in parentheses, e.g. \(logical)=(a.eq.1,b.gt.2)")
            }
            let items = try parseList(depth: 0)
            filter = logical == "or" ? .or(items) : .and(items)
        } else {
            if negated { throw error("write not. after '=' for a column: \(logical)=not.eq.value", at: 0) }
            filter = try parseCondition(column: name, until: nil)
        }
        guard index == text.count else { throw error("unexpected text after the filter") }
        return negated ? .not(filter) : filter
    }

    /// `(item,item,...)` where an item is `column.[not.]op.value`, `or(...)`, `and(...)`, `not.or(...)`.
    mutating func parseList(depth: Int) throws -> [RowFilter] {
        guard depth < Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
        index += 1  // "("
        var items: [RowFilter] = []
        while true {
            items.append(try parseItem(depth: depth))
            guard index < text.count else { throw error("missing ')'") }
            if text[index] == "," {
                index += 1
                continue
            }
            if text[index] == ")" {
                index += 1
                return items
            }
            throw error("expected ',' or ')'")
        }
    }

    mutating func parseItem(depth: Int) throws -> RowFilter {
        let start = index
        var negated = false
        if matchWord("not.") { negated = true }
        for logical in ["or", "and"] where matchWord(logical + "(") {
            index -= 1
            let items = try parseList(depth: depth + 1)
            let group: RowFilter = logical == "or" ? .or(items) : .and(items)
            return negated ? .not(group) : group
        }
        if negated { index = start }
        // column name up to the first '.'
        let columnStart = index
        let column = try readName()
        guard !column.isEmpty else { throw error("a column name is missing", at: columnStart) }
        guard index < text.count, text[index] == "." else { throw error("expected '.' and an operator after column '\(column)'") }
        index += 1
        return try parseCondition(column: column, until: [",", ")"])
    }

    /// `[not.]op.value` after the column; `until` are the characters that end an unquoted value inside a list.
    mutating func parseCondition(column: String, until terminators: Set<Character>?) throws -> RowFilter {
        var negated = false
        if matchWord("not.") { negated = true }
        let opStart = index
        var word = ""
        while index < text.count, text[index] != "." {
            if let terminators, terminators.contains(text[index]) { break }
            word.append(text[index])
            index += 1
        }
        guard let op = FilterOperator(rawValue: word) else {
            let known = FilterOperator.allCases.map(\.rawValue).joined(separator: ", ")
            throw error(word.isEmpty ? "an operator is missing (use \(known))" : "unknown operator '\(word)' (use \(known))", at: opStart)
        }
        guard index < text.count, text[index] == "." else { throw error("expected '.' and a value after '\(word)'") }
        index += 1
        let operand: FilterOperand
        switch op {
        case .in:
            guard index < text.count, text[index] == "(" else { throw error("in takes a list in parentheses, e.g. in.(a,b,\"c,d\")") }
            operand = .list(try readValueList())
        case .is:
            let valueStart = index
            let value = try readValue(until: terminators)
            switch value.lowercased() {
            case "null", "unknown": operand = .null
            case "true": operand = .true
            case "false": operand = .false
            default: throw error("is takes null, true, false or unknown, not '\(value)'", at: valueStart)
            }
        case .match, .imatch:
            let valueStart = index
            let value = try readValue(until: terminators)
            do {
                operand = .regex(try RegularExpression(value, caseInsensitive: op == .imatch))
            } catch {
                throw self.error("\(op.rawValue): \(error.message)", at: valueStart)
            }
        default:
            let valueStart = index
            let value = try readValue(until: terminators)
            if op == .like || op == .ilike, value.count > FilterOperator.maximumPatternLength {
                throw error(
                    "a \(op.rawValue) pattern may have at most \(FilterOperator.maximumPatternLength) characters (it has \(value.count))",
                    at: valueStart)
            }
            operand = .value(value)
        }
        let condition = RowFilter.condition(column: column, op: op, operand: operand)
        return negated ? .not(condition) : condition
    }

    mutating func matchWord(_ word: String) -> Bool {
        let chars = Array(word)
        guard index + chars.count <= text.count, Array(text[index..<index + chars.count]) == chars else { return false }
        index += chars.count
        return true
    }

    mutating func readName() throws -> String {
        if index < text.count, text[index] == "\"" { return try readQuoted() }
        var name = ""
        while index < text.count, !".,()".contains(text[index]) {
            name.append(text[index])
            index += 1
        }
        return name
    }

    /// A value: quoted (`"a,b"`, with `\"` and `\\` escapes), or everything up to a terminator.
    mutating func readValue(until terminators: Set<Character>?) throws -> String {
        if index < text.count, text[index] == "\"" { return try readQuoted() }
        var value = ""
        while index < text.count {
            if let terminators, terminators.contains(text[index]) { break }
            value.append(text[index])
            index += 1
        }
        return value
    }

    mutating func readValueList() throws -> [String] {
        index += 1  // "("
        var values: [String] = []
        if index < text.count, text[index] == ")" {
            index += 1
            return values
        }
        while true {
            values.append(try readValue(until: [",", ")"]))
            guard index < text.count else { throw error("missing ')' at the end of the in list") }
            let c = text[index]
            index += 1
            if c == ")" { return values }
            if c != "," { throw error("expected ',' or ')' in the in list", at: index - 1) }
        }
    }

    mutating func readQuoted() throws -> String {
        let start = index
        index += 1
        var value = ""
        while index < text.count {
            let c = text[index]
            index += 1
            if c == "\\", index < text.count {
                value.append(text[index])
                index += 1
            } else if c == "\"" {
                return value
            } else {
                value.append(c)
            }
        }
        throw error("a quoted value is not closed with '\"'", at: start)
    }
}
