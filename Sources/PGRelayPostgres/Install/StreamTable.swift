import PGRelayCore

/// A subscribed table as a stream sees it when it opens (``Catalog/streamTable(_:)``).
public struct StreamTable: Sendable {
    /// The table's OID: open streams follow its column types by it (a rename keeps it).
    public var id: UInt32
    /// The columns that identify a row: its replica identity index's, else its primary key's.
    public var key: [String]
    /// Each column's type as filters compare it (a domain's by its base type).
    public var columnTypes: [String: ColumnType]
    /// The columns in order with their types' names as `pg_type` has them (`int4`, `_text`): what
    /// Supabase clients are told a change's columns are.
    public var columnTypeNames: [(name: String, type: String)]
    /// REPLICA IDENTITY FULL: UPDATEs and DELETEs describe the whole old row, not only its key.
    public var replicaIdentityIsFull: Bool

    init(id: UInt32, replicaIdentityIsFull: Bool, keyJSON: String, columnsJSON: String) throws {
        self.id = id
        self.replicaIdentityIsFull = replicaIdentityIsFull
        guard case .array(let names) = try JSONValue(parsing: keyJSON), case .array(let columns) = try JSONValue(parsing: columnsJSON) else {
            throw PostgresError(.invalidData, "the catalog's description of table \(id) is not a JSON array")
        }
        key = names.compactMap(\.stringValue)
        var types: [String: ColumnType] = [:]
        var typeNames: [(name: String, type: String)] = []
        for column in columns {
            guard case .array(let parts) = column, parts.count == 3, let name = parts[0].stringValue, let typeName = parts[1].stringValue,
                let baseName = parts[2].stringValue
            else { throw PostgresError(.invalidData, "the catalog's description of a column of table \(id) is not [name, type, base type]") }
            types[name] = ColumnType(postgresType: baseName)
            typeNames.append((name, typeName))
        }
        columnTypes = types
        columnTypeNames = typeNames
    }
}
