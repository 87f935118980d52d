import Foundation

extension FilterOperator {
    /// Applies this operator to a row's value. Comparison follows the value's JSON type.
    /// Throws when the operand cannot be compared with the value's type (`total=gt.abc` on a
    /// number), as PostgREST refuses such a filter: it would never match, and saying so helps.
    func evaluate(_ value: JSONValue, _ operand: FilterOperand, column: String) throws -> Bool {
        func comparable(_ text: String) throws -> ComparisonResult? {
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
            return string == text ? .orderedSame : (string.unicodeScalars.lexicographicallyPrecedes(text.unicodeScalars) ? .orderedAscending : .orderedDescending)
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

    /// SQL LIKE, with `*` accepted for `%` as PostgREST does in URLs; `_` matches one character.
    static func like(_ value: JSONValue, _ pattern: String, caseInsensitive: Bool) -> Bool {
        let subject: String
        switch value {
        case .string(let s): subject = s
        case .number(let n): subject = n
        case .bool(let b): subject = b ? "true" : "false"
        default: return false
        }
        let fold: (String) -> [Character] = { caseInsensitive ? Array($0.lowercased()) : Array($0) }
        return likeMatch(fold(subject)[...], fold(pattern)[...])
    }

    /// Iterative wildcard matching with backtracking to the last `%`: linear in practice, never exponential.
    private static func likeMatch(_ s: ArraySlice<Character>, _ p: ArraySlice<Character>) -> Bool {
        var si = s.startIndex
        var pi = p.startIndex
        var star: (p: Int, s: Int)?
        while si < s.endIndex {
            if pi < p.endIndex, p[pi] == "%" || p[pi] == "*" {
                star = (pi, si)
                pi += 1
            } else if pi < p.endIndex, p[pi] == "_" || p[pi] == s[si] {
                si += 1
                pi += 1
            } else if let last = star {
                pi = last.p + 1
                si = last.s + 1
                star = (last.p, last.s + 1)
            } else {
                return false
            }
        }
        while pi < p.endIndex, p[pi] == "%" || p[pi] == "*" { pi += 1 }
        return pi == p.endIndex
    }
}
