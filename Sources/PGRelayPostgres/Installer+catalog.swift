import PGRelayCore

/// The catalog lookups streams and Supabase feeds make about a subscribed table: its OID, its
/// columns and their types, its key, its replica identity.
extension Installer {
    /// Each column's type, as filters compare it (a domain's by its base type).
    public func columnTypes(of table: TableName) throws -> [String: ColumnType] {
        let id = try tableID(of: table)
        return try columnTypes(ofTableIDs: [id])[id] ?? [:]
    }

    /// The table's OID: what open streams watch its column types by (a rename keeps it).
    public func tableID(of table: TableName) throws -> UInt32 {
        guard let text = try connection.query("select to_regclass($1)::oid", [table.quoted]).first?[0] ?? nil, let id = UInt32(text) else {
            throw PostgresError(.unknownTable, "table \(table) does not exist")
        }
        return id
    }

    /// The column types of each of these tables, by OID, in one query; a table that no longer
    /// exists is absent.
    public func columnTypes(ofTableIDs ids: [UInt32]) throws -> [UInt32: [String: ColumnType]] {
        let rows = try connection.query(
            """
            select a.attrelid, a.attname, coalesce(b.typname, t.typname)
              from pg_attribute a
              join pg_type t on t.oid = a.atttypid
              left join pg_type b on t.typtype = 'd' and b.oid = t.typbasetype
             where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
            """,
            ["{" + ids.map(String.init).joined(separator: ",") + "}"]
        )
        var tables: [UInt32: [String: ColumnType]] = [:]
        for row in rows {
            guard let id = row[0].flatMap({ UInt32($0) }), let name = row[1], let type = row[2] else { continue }
            tables[id, default: [:]][name] = ColumnType(postgresType: type)
        }
        return tables
    }

    /// Whether the table's replica identity is FULL: its UPDATEs and DELETEs are described, by
    /// Postgres and by Supabase, with the whole old row rather than its key.
    public func replicaIdentityIsFull(tableID: UInt32) throws -> Bool {
        try connection.query("select relreplident = 'f' from pg_catalog.pg_class where oid = $1::oid", [String(tableID)]).first?[0] == "t"
    }

    /// The table's columns with their types' names as `pg_type` has them (`int4`, `text`, `_text`),
    /// in column order: what Supabase clients are told a change's columns are.
    public func columnTypeNames(of table: TableName) throws -> [(name: String, type: String)] {
        try connection.query(
            """
            select a.attname, t.typname from pg_attribute a join pg_type t on t.oid = a.atttypid
             where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum
            """,
            [table.quoted]
        ).map { ($0[0] ?? "", $0[1] ?? "") }
    }

    /// The table's columns in order, each with its type as Postgres spells it (`numeric(10,2)`):
    /// what the inspector page shows beside its filter field.
    public func columnList(of table: TableName) throws -> [(name: String, type: String)] {
        try connection.query(
            """
            select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
             where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum
            """,
            [table.quoted]
        ).compactMap { row in row[0].map { (name: $0, type: row[1] ?? "") } }
    }

    /// The columns that identify a row of `table`, in index order: its replica identity index when
    /// it has one (REPLICA IDENTITY USING INDEX), else its primary key; empty when it has neither.
    /// Each with the schema of the equality operator of its index's operator class.
    public func keyColumns(of table: TableName) throws -> [KeyColumn] {
        try connection.query(
            """
            with rel as (select $1::regclass as oid),
            key as (
                select i.indexrelid, i.indkey, i.indclass from pg_index i, rel
                 where i.indrelid = rel.oid and (i.indisreplident or i.indisprimary)
                 order by i.indisreplident desc limit 1
            )
            select a.attname, opn.nspname
              from key, unnest(key.indkey::int2[], key.indclass::oid[]) with ordinality as k(attnum, opclass, position)
              join pg_attribute a on a.attrelid = (select oid from rel) and a.attnum = k.attnum
              join pg_opclass oc on oc.oid = k.opclass
              join pg_amop ao on ao.amopfamily = oc.opcfamily and ao.amoplefttype = oc.opcintype
                             and ao.amoprighttype = oc.opcintype and ao.amopstrategy = 3
              join pg_operator op on op.oid = ao.amopopr
              join pg_namespace opn on opn.oid = op.oprnamespace
             order by k.position
            """,
            [table.quoted]
        ).compactMap { row in row[0].map { KeyColumn(name: $0, operatorSchema: row[1] ?? "pg_catalog") } }
    }
}
