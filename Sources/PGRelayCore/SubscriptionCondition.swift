import Foundation

/// A subscription's condition (`pgrelay subscribe public.comments INSERT,UPDATE "post_id = '123'"`):
/// a boolean SQL expression over the table's columns, evaluated in the capture triggers so that
/// rows that do not match are never logged.
///
/// It is SQL by nature, so it cannot be a bound parameter; it reaches SQL by this one path:
/// 1. here, lexically: one expression, at most ``maximumLength`` characters, with no `;`, no
///    comment and no dollar quote outside its literals, and balanced parentheses, so that the
///    statement that checks it is one statement;
/// 2. Postgres parses it as the predicate of an index on an empty copy of the table, with the
///    search path set to `pg_catalog`, which holds it to a trigger WHEN clause's rules and more:
///    no subqueries, aggregates or window functions, immutable functions only, a boolean (its
///    message, with "index predicate" read as "subscription condition", is the error);
/// 3. what is stored and compiled into the capture function is Postgres' own rendering of the
///    parsed expression (`pg_get_expr`), never the text as typed (``SQLQuoting/condition(_:)``).
public struct SubscriptionCondition: Equatable, Sendable, CustomStringConvertible {
    public let text: String
    public static let maximumLength = 2000

    public init(_ text: String) throws(SubscriptionConditionError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw SubscriptionConditionError("a condition is a boolean SQL expression over the table's columns, e.g. \"post_id = '123'\"")
        }
        guard trimmed.count <= Self.maximumLength else {
            throw SubscriptionConditionError("a condition may have at most \(Self.maximumLength) characters (it has \(trimmed.count))")
        }
        let scalars = Array(trimmed.unicodeScalars)
        var index = 0
        var depth = 0
        func closing(_ quote: Unicode.Scalar, from start: Int, backslashes: Bool) throws(SubscriptionConditionError) -> Int {
            var i = start + 1
            while i < scalars.count {
                if backslashes, scalars[i] == "\\" {
                    i += 2
                    continue
                }
                if scalars[i] == quote {
                    // A doubled quote is one quote inside.
                    if i + 1 < scalars.count, scalars[i + 1] == quote {
                        i += 2
                        continue
                    }
                    return i
                }
                i += 1
            }
            throw SubscriptionConditionError(quote == "'" ? "a '...' literal is not closed" : "a \"...\" identifier is not closed")
        }
        while index < scalars.count {
            let c = scalars[index]
            switch c {
            case "'":
                let escaped = index > 0 && (scalars[index - 1] == "E" || scalars[index - 1] == "e")
                index = try closing("'", from: index, backslashes: escaped)
            case "\"":
                index = try closing("\"", from: index, backslashes: false)
            case ";":
                throw SubscriptionConditionError("a condition is one expression: ';' is not allowed outside a literal")
            case "$":
                throw SubscriptionConditionError("a condition may not use '$' (parameters or dollar quotes) outside a literal; write '...' literals")
            case "-" where index + 1 < scalars.count && scalars[index + 1] == "-",
                "/" where index + 1 < scalars.count && scalars[index + 1] == "*":
                throw SubscriptionConditionError("a condition may not contain a comment")
            case "(":
                depth += 1
            case ")":
                depth -= 1
                guard depth >= 0 else { throw SubscriptionConditionError("a ')' has no '(' before it") }
            default:
                break
            }
            index += 1
        }
        guard depth == 0 else { throw SubscriptionConditionError("a '(' is not closed") }
        self.text = trimmed
    }

    public var description: String { text }

    /// The same condition with every column reference `<row>.` as `<name>.`: outside literals and
    /// quoted identifiers, where `row` stands as a word of its own. For Postgres' rendering of a
    /// checked condition, whose columns it qualifies by the row's name.
    public func renamingRow(_ row: String, to name: String) throws(SubscriptionConditionError) -> SubscriptionCondition {
        let scalars = Array(text.unicodeScalars)
        let target = Array((row + ".").unicodeScalars)
        func isWord(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "$" }
        var result = String.UnicodeScalarView()
        var index = 0
        var quote: Unicode.Scalar?
        while index < scalars.count {
            let c = scalars[index]
            if let open = quote {
                result.append(c)
                if c == open {
                    if index + 1 < scalars.count, scalars[index + 1] == open {
                        result.append(scalars[index + 1])
                        index += 2
                        continue
                    }
                    quote = nil
                }
                index += 1
                continue
            }
            if c == "'" || c == "\"" {
                quote = c
                result.append(c)
                index += 1
                continue
            }
            if index + target.count <= scalars.count, Array(scalars[index..<index + target.count]) == target,
                index == 0 || (!isWord(scalars[index - 1]) && scalars[index - 1] != ".")
            {
                result.append(contentsOf: (name + ".").unicodeScalars)
                index += target.count
                continue
            }
            result.append(c)
            index += 1
        }
        return try SubscriptionCondition(String(result))
    }
}

public struct SubscriptionConditionError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension SQLQuoting {
    /// A checked condition as SQL: parenthesized, so that it is one operand wherever it goes.
    public static func condition(_ condition: SubscriptionCondition) -> String {
        "(" + condition.text + ")"
    }
}
