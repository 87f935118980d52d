import Foundation

/// The SQL files of `triggers/sql`, shipped with pgrelay as resources.
///
/// `pgrelay init` applies `migrations/NNNN_*.sql` in order, each once, then re-applies
/// `functions.sql`; `pgrelay subscribe` renders `subscribe.sql` for one table.
public enum TriggerSQL {
    /// The text of one file under `triggers/sql`, for example `"functions.sql"`.
    public static func file(_ relativePath: String) throws -> String {
        let url = Bundle.module.bundleURL.appendingPathComponent("sql").appendingPathComponent(relativePath)
        return try String(contentsOf: url, encoding: .utf8)
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
