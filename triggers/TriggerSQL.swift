import Foundation

/// The SQL files of `triggers/sql`, shipped with pgrelay as resources.
///
/// `pgrelay init` applies `migrations/NNNN_*.sql` in order, each once, then re-applies
/// `functions.sql` (one function per file under `functions/`, included with psql's `\i`) and
/// `capture_rows.sql`; `pgrelay subscribe` renders `subscribe.sql` for one table.
public enum TriggerSQL {
    /// The text of one file under `triggers/sql`, for example `"functions.sql"`, with each `\i
    /// path` line replaced by that file's text (a path relative to the including file, as psql's
    /// `\ir` reads it: the same files run with `psql -f` from that folder).
    public static func file(_ relativePath: String) throws -> String {
        let root = Bundle.module.bundleURL.appendingPathComponent("sql")
        return try expanded(root.appendingPathComponent(relativePath), depth: 0)
    }

    private static func expanded(_ url: URL, depth: Int) throws -> String {
        guard depth < 4 else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path]) }
        let text = try String(contentsOf: url, encoding: .utf8)
        guard text.contains("\\i ") else { return text }
        let folder = url.deletingLastPathComponent()
        return try text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("\\i ") else { return String(line) }
            let included = line.dropFirst(3).trimmingCharacters(in: .whitespaces)
            return try expanded(folder.appendingPathComponent(included), depth: depth + 1)
        }.joined(separator: "\n")
    }

    /// The schema migrations, as (version, SQL) in the order they apply.
    public static func migrations() throws -> [(version: Int, sql: String)] {
        let folder = Bundle.module.bundleURL.appendingPathComponent("sql/migrations")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        return try names.map { name in
            guard let version = Int(name.prefix { $0.isNumber }) else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: name])
            }
            return (version, try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8))
        }
    }
}
