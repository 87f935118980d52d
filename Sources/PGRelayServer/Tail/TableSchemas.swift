import PGRelayCore
import PGRelayPostgres
import Synchronization

/// The column types of the tables that open streams filter, kept current while they are open:
/// an `ALTER TABLE` on a subscribed table (a column's type changed, a column added) reaches every
/// open stream within ``refreshSeconds``, and from then on its filter compares by the new types;
/// a stream whose filter no longer fits (a column it names dropped or renamed, an operand not of
/// the new type) ends then, with an error.
/// Tables are known by OID, so a rename changes nothing here.
///
/// Changes written just before an `ALTER TABLE` and delivered after the refresh are compared by
/// the new types; a value that is not of its column's type compares by its JSON kind (see
/// ``PGRelayCore/RowFilter/matches(_:types:)``).
public final class TableSchemas: Sendable {
    /// How often the watched tables' types are read again, in one query.
    public static let refreshSeconds = 1.0

    private struct Watched {
        var types: [String: ColumnType]
        var streams: Int
    }

    private let tables = Mutex<[UInt32: Watched]>([:])

    public init() {}

    /// A stream starts filtering `table`, whose types it has just read: they are the newest.
    func watch(_ table: UInt32, types: [String: ColumnType]) {
        tables.withLock { tables in
            tables[table] = Watched(types: types, streams: (tables[table]?.streams ?? 0) + 1)
        }
    }

    func unwatch(_ table: UInt32) {
        tables.withLock { tables in
            guard let watched = tables[table] else { return }
            tables[table] = watched.streams > 1 ? Watched(types: watched.types, streams: watched.streams - 1) : nil
        }
    }

    /// The types open streams of `table` filter by now.
    func types(of table: UInt32) -> [String: ColumnType]? {
        tables.withLock { $0[table]?.types }
    }

    /// Reads the watched tables' types again (one query for all); a dropped table keeps its last
    /// types. True when some table's columns changed (a type, a name, a column added or dropped).
    @discardableResult
    func refresh(pool: DatabasePool) async throws -> Bool {
        let ids = tables.withLock { Array($0.keys) }
        guard !ids.isEmpty else { return false }
        let fresh = try await pool.withConnection { try Catalog(connection: $0).columnTypes(ofTableIDs: ids) }
        return tables.withLock { tables in
            var changed = false
            for (id, types) in fresh where tables[id] != nil && tables[id]!.types != types {
                tables[id]!.types = types
                changed = true
            }
            return changed
        }
    }
}
