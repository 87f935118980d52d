import Foundation

/// A table, named by schema and table exactly as Postgres stores them (case and all).
///
/// Parse what a user typed with `TableName(parsing:)`: `orders`, `public.orders`,
/// `"Sales"."Order Lines"`, `"odd.schema"."a ""quoted"" name"`. Unquoted parts are folded to
/// lower case as Postgres does; a missing schema means `public`.
public struct TableName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var schema: String
    public var name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    /// `schema.table` for display, each part quoted only where Postgres would need it.
    public var description: String { SQLQuoting.displayIdentifier(schema) + "." + SQLQuoting.displayIdentifier(name) }

    /// `"schema"."table"`, always quoted: safe to splice into SQL.
    public var quoted: String { SQLQuoting.identifier(schema) + "." + SQLQuoting.identifier(name) }

    public static func < (lhs: TableName, rhs: TableName) -> Bool { (lhs.schema, lhs.name) < (rhs.schema, rhs.name) }
}

/// Why a table name did not parse.
public struct TableNameError: Error, Equatable, CustomStringConvertible {
    public var input: String
    public var reason: String
    public var description: String { "table name '\(input)' does not parse: \(reason)" }
}

extension TableName {
    /// Postgres' identifier limit (NAMEDATALEN - 1), in bytes.
    public static let maximumIdentifierBytes = 63

    /// Parses a table name as a user types it at a shell or in a URL.
    public init(parsing input: String) throws {
        var parts: [String] = []
        var chars = Array(input)
        var i = 0
        func fail(_ reason: String) -> TableNameError { TableNameError(input: input, reason: reason) }
        if chars.isEmpty { throw fail("it is empty") }
        while true {
            guard i < chars.count else { throw fail("a name is missing after '.'") }
            var part = ""
            if chars[i] == "\"" {
                i += 1
                var closed = false
                while i < chars.count {
                    if chars[i] == "\"" {
                        if i + 1 < chars.count, chars[i + 1] == "\"" {
                            part.append("\"")
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    part.append(chars[i])
                    i += 1
                }
                if !closed { throw fail("a quoted name is not closed with '\"'") }
                if part.isEmpty { throw fail("a quoted name is empty") }
                if part.unicodeScalars.contains("\0") { throw fail("a name contains a NUL character") }
            } else {
                let start = i
                while i < chars.count, chars[i] != "." {
                    let c = chars[i]
                    let ok = c == "_" || c.isLetter || (i > start && (c.isNumber || c == "$"))
                    if !ok {
                        throw fail(
                            "unexpected '\(c)' at position \(i + 1); quote names with spaces, capitals or symbols, e.g. '\"My Table\"'"
                        )
                    }
                    i += 1
                }
                if i == start { throw fail("a name is empty") }
                // Postgres folds unquoted identifiers to lower case (ASCII letters only).
                part = String(String(chars[start..<i]).map { $0.isASCII ? Character($0.lowercased()) : $0 })
            }
            if part.utf8.count > Self.maximumIdentifierBytes {
                throw fail("'\(part)' is longer than Postgres' \(Self.maximumIdentifierBytes)-byte limit for names")
            }
            parts.append(part)
            if i == chars.count { break }
            guard chars[i] == "." else { throw fail("expected '.' after a quoted name at position \(i + 1)") }
            i += 1
        }
        chars.removeAll()
        switch parts.count {
        case 1: self.init(schema: "public", name: parts[0])
        case 2: self.init(schema: parts[0], name: parts[1])
        default: throw fail("expected schema.table, found \(parts.count) parts (quote a name that contains dots)")
        }
    }
}
