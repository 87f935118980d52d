import Foundation

extension FilterOperator {
    /// Applies this operator to a row's value. Comparison follows the value's JSON type.
    /// Throws when the operand cannot be compared with the value's type (`total=gt.abc` on a
    /// number), as PostgREST refuses such a filter: it would never match, and saying so helps.
    /// With the column's `type` known, values compare as Postgres compares that type; a value
    /// that is not of the type (the column changed since the stream started) compares by its JSON kind.
    func evaluate(_ value: JSONValue, _ operand: FilterOperand, column: String, type: ColumnType = .json) throws -> Bool {
        func comparable(_ text: String) throws -> ComparisonResult? {
            if type != .json, let order = type.compare(value, text) { return order }
            if let order = Self.compare(value, text) { return order }
            switch value {
            case .null: return nil
            case .array, .object, .fragment:
                if self == .eq || self == .neq || self == .in { return nil }
                throw FilterEvaluationError(column: column, reason: "\(rawValue) cannot order a JSON \(value.typeName)")
            default:
                throw FilterEvaluationError(column: column, reason: "the row's value is a \(value.typeName) and '\(text)' is not one")
            }
        }
        switch (self, operand) {
        case (.is, .null): return value.isNull
        case (.is, .true): return value == .bool(true)
        case (.is, .false): return value == .bool(false)
        case (.in, .list(let options)): return try options.contains { try comparable($0) == .orderedSame }
        case (.match, .regex(let expression)), (.imatch, .regex(let expression)):
            switch value {
            case .null: return false
            case .string(let text): return expression.matches(text)
            case .number(let digits): return expression.matches(digits)
            default: return expression.matches(value.jsonText)
            }
        case (.isdistinct, .value(let text)):
            // IS DISTINCT FROM: null is distinct from every value.
            guard !value.isNull else { return true }
            return try comparable(text) != .orderedSame
        case (.like, .value(let pattern)): return Self.like(value, pattern, caseInsensitive: false)
        case (.ilike, .value(let pattern)): return Self.like(value, pattern, caseInsensitive: true)
        case (_, .value(let text)):
            guard let order = try comparable(text) else { return false }
            switch self {
            case .eq: return order == .orderedSame
            case .neq: return order != .orderedSame
            case .gt: return order == .orderedDescending
            case .gte: return order != .orderedAscending
            case .lt: return order == .orderedAscending
            case .lte: return order != .orderedDescending
            default: return false
            }
        default:
            return false
        }
    }

    /// How `value` compares to the operand text, or nil when they cannot be compared (null, or a
    /// number against text that is not a number).
    static func compare(_ value: JSONValue, _ text: String) -> ComparisonResult? {
        switch value {
        case .null:
            return nil
        case .number(let number):
            guard let left = Decimal(string: number, locale: Locale(identifier: "en_US_POSIX")),
                let right = decimal(text)
            else { return nil }
            return left == right ? .orderedSame : (left < right ? .orderedAscending : .orderedDescending)
        case .string(let string):
            return string == text
                ? .orderedSame : (string.unicodeScalars.lexicographicallyPrecedes(text.unicodeScalars) ? .orderedAscending : .orderedDescending)
        case .bool(let bool):
            guard let other = Bool(text.lowercased()) else { return nil }
            return bool == other ? .orderedSame : (!bool ? .orderedAscending : .orderedDescending)
        case .array, .object, .fragment:
            // Structured values compare by equality with the operand parsed as JSON.
            guard let other = try? JSONValue(parsing: text) else { return nil }
            return value == other ? .orderedSame : nil
        }
    }

    /// A number as PostgREST accepts it in a filter: plain decimal notation, optional exponent.
    static func decimal(_ text: String) -> Decimal? {
        guard !text.isEmpty, text.allSatisfy({ "0123456789.-+eE".contains($0) }) else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// SQL LIKE, with `*` accepted for `%` as PostgREST does in URLs; `_` matches one character
    /// and `\\` makes the next character literal. Compared by Unicode scalar (ilike folds case
    /// first). Patterns are at most ``maximumPatternLength`` characters (the parser refuses
    /// longer), and matching is a left-to-right search for each run between `%`s: at most
    /// pattern length × row value length steps, never exponential and never backtracking over
    /// earlier runs.
    static func like(_ value: JSONValue, _ pattern: String, caseInsensitive: Bool) -> Bool {
        guard let subject = value.scalarText else { return false }
        let fold: (String) -> [Unicode.Scalar] = { Array((caseInsensitive ? $0.lowercased() : $0).unicodeScalars) }
        return LikePattern(fold(pattern)).matches(fold(subject))
    }

    /// `text` as a pattern that matches exactly `text`: `\\` before each `%`, `*`, `_` and `\\`.
    public static func escapeLike(_ text: String) -> String {
        var out = ""
        for character in text {
            if "%*_\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    /// Longest `like`/`ilike` pattern a filter may use.
    public static let maximumPatternLength = 256
}

/// A LIKE pattern as runs of literal-or-any-one scalars separated by `%`.
struct LikePattern {
    /// nil matches any one scalar (`_`).
    typealias Run = [Unicode.Scalar?]
    var runs: [Run] = [[]]
    var anchoredStart = true
    var anchoredEnd = true

    init(_ pattern: [Unicode.Scalar]) {
        var escaped = false
        for (offset, c) in pattern.enumerated() {
            if escaped {
                runs[runs.count - 1].append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "%" || c == "*" {
                if offset == 0 { anchoredStart = false }
                if !runs[runs.count - 1].isEmpty { runs.append([]) }
                if offset == pattern.count - 1 { anchoredEnd = false }
            } else {
                runs[runs.count - 1].append(c == "_" ? nil : c)
            }
        }
        if escaped { runs[runs.count - 1].append("\\") }
        if runs.count > 1, runs[runs.count - 1].isEmpty { runs.removeLast() }
    }

    func matches(_ s: [Unicode.Scalar]) -> Bool {
        func fits(_ run: Run, at position: Int) -> Bool {
            guard position + run.count <= s.count else { return false }
            for (i, c) in run.enumerated() where c != nil && c != s[position + i] { return false }
            return true
        }
        if runs.count == 1 && anchoredStart && anchoredEnd { return runs[0].count == s.count && fits(runs[0], at: 0) }
        var position = 0
        var first = 0
        var last = runs.count
        if anchoredStart {
            guard fits(runs[0], at: 0) else { return false }
            position = runs[0].count
            first = 1
        }
        var end = s.count
        if anchoredEnd, last > first {
            let run = runs[last - 1]
            guard run.count <= end - position, fits(run, at: end - run.count) else { return false }
            end -= run.count
            last -= 1
        }
        // Each middle run at its leftmost place after the previous one: the leftmost is always best.
        for index in first..<last {
            let run = runs[index]
            var found = false
            while position + run.count <= end {
                if fits(run, at: position) {
                    found = true
                    break
                }
                position += 1
            }
            guard found else { return false }
            position += run.count
        }
        return position <= end
    }
}
