import Foundation

/// Quoting of identifiers and literals for SQL that pgrelay renders itself (trigger DDL).
///
/// Every user-supplied name goes through here; nothing user-typed is spliced into SQL raw.
public enum SQLQuoting {
    /// `"name"`, with embedded quotes doubled: always a valid identifier for any name.
    public static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `'text'` as a standard-conforming string literal, with embedded quotes doubled.
    public static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// The name as a user would type it: bare when it is a plain lower-case identifier.
    public static func displayIdentifier(_ name: String) -> String {
        isPlainIdentifier(name) ? name : identifier(name)
    }

    /// True for names that need no quotes: lower-case ASCII letters, digits, `_`, `$`, not starting with a digit or `$`.
    public static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0 == "$" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }
}
