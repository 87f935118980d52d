import PGRelayCore

/// What Postgres' catalog says about a table: its OID, its columns and their types, its key, its
/// replica identity. Read-only; for streams, Supabase feeds, the inspector and `subscribe`.
public struct Catalog {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// Whether `table` exists (whatever its kind).
    public func exists(_ table: TableName) throws -> Bool {
        try connection.query("select to_regclass(\(table.quoted)) is not null as found")[0].decode("found")
    }

    /// Each column's type, as filters compare it (a domain's by its base type).
    public func columnTypes(of table: TableName) throws -> [String: ColumnType] {
        let id = try tableID(of: table)
        return try columnTypes(ofTableIDs: [id])[id] ?? [:]
    }

    /// The table's OID: what open streams watch its column types by (a rename keeps it).
    public func tableID(of table: TableName) throws -> UInt32 {
        guard let id = try connection.query("select to_regclass(\(table.quoted))::oid as id")[0].decode("id", as: UInt32?.self) else {
            throw PostgresError(.unknownTable, "table \(table) does not exist")
        }
        return id
    }

    /// The column types of each of these tables, by OID, in one query; a table that no longer
    /// exists is absent.
    public func columnTypes(ofTableIDs ids: [UInt32]) throws -> [UInt32: [String: ColumnType]] {
        let rows = try connection.query(
            """
            select a.attrelid, a.attname::text, coalesce(b.typname, t.typname)::text as type
              from pg_attribute a
              join pg_type t on t.oid = a.atttypid
              left join pg_type b on t.typtype = 'd' and b.oid = t.typbasetype
             where a.attrelid = any(\(array: ids.map(String.init))::oid[]) and a.attnum > 0 and not a.attisdropped
            """
        )
        var tables: [UInt32: [String: ColumnType]] = [:]
        for row in rows {
            tables[try row.decode("attrelid"), default: [:]][try row.decode("attname")] = ColumnType(postgresType: try row.decode("type"))
        }
        return tables
    }

    /// The table's columns in order, each with its type as Postgres spells it (`numeric(10,2)`):
    /// what the inspector page shows beside its filter field.
    public func columnList(of table: TableName) throws -> [(name: String, type: String)] {
        try connection.query(
            """
            select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type from pg_attribute a
             where a.attrelid = \(table.quoted)::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum
            """
        ).map { row in (try row.decode("name"), try row.decode("type")) }
    }

    /// The columns that identify a row of `table`, in index order: its replica identity index when
    /// it has one (REPLICA IDENTITY USING INDEX), else its primary key; empty when it has neither.
    /// Each with the schema of the equality operator of its index's operator class.
    public func keyColumns(of table: TableName) throws -> [KeyColumn] {
        try connection.query("select name, operator_schema from realtime.key_columns(\(table.quoted)::regclass)").map { row in
            KeyColumn(name: try row.decode("name"), operatorSchema: try row.decode("operator_schema"))
        }
    }

    /// Everything a stream or a Supabase feed needs to know of a subscribed table, in one round
    /// trip: its OID, key, column types as filters compare them and as Supabase names them, and
    /// replica identity. Throws `.unknownTable` when it does not exist.
    public func streamTable(_ table: TableName) throws -> StreamTable {
        let rows = try connection.query(
            """
            select c.oid, c.relreplident = 'f' as full_identity,
                   (select array_to_json(coalesce(array_agg(k.name order by k.position), '{}')) from realtime.key_columns(c.oid) k)::text as key,
                   (select json_agg(json_build_array(a.attname, t.typname, coalesce(b.typname, t.typname)) order by a.attnum)
                      from pg_attribute a
                      join pg_type t on t.oid = a.atttypid
                      left join pg_type b on t.typtype = 'd' and b.oid = t.typbasetype
                     where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped)::text as columns
              from pg_class c where c.oid = to_regclass(\(table.quoted))
            """
        )
        guard let row = rows.first else { throw PostgresError(.unknownTable, "table \(table) does not exist") }
        return try StreamTable(
            id: row.decode("oid"), replicaIdentityIsFull: row.decode("full_identity"), keyJSON: row.decode("key"),
            columnsJSON: row.decode("columns", as: String?.self) ?? "[]")
    }
}
