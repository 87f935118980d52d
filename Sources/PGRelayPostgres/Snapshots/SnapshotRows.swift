import PGRelayCore

/// The rows of a subscribed table in an exported snapshot (``SnapshotCut``), read through a
/// cursor a page at a time: memory is bounded by a page, never the table. Each row is its JSON
/// text exactly as capture renders a change's `new` (`row_to_json` with capture's output
/// settings: UTC, ISO dates, Postgres intervals, shortest exact floats, hex bytea).
///
/// The reader's transaction is REPEATABLE READ in the imported snapshot, and holds the table in
/// ACCESS SHARE mode from before the cut; it has a deadline
/// (`statement_timeout` and `idle_in_transaction_session_timeout`) so that a slow client cannot
/// hold the snapshot, and with it vacuum's horizon, for long.
public struct SnapshotRows {
    public let connection: Connection
    /// Rows one ``next()`` returns at most.
    public static let pageRows = 1000

    public init(connection: Connection) { self.connection = connection }

    /// Begins the reader's transaction and locks `table` against TRUNCATE, before the cut is
    /// taken: TRUNCATE is not MVCC-safe (a snapshot taken before one that commits reads the table
    /// empty), so none may commit between the cut and the read. A TRUNCATE of the table waits for
    /// the snapshot to be read; INSERTs, UPDATEs and DELETEs do not.
    public func prepare(table: TableName, deadlineSeconds: Double) throws {
        try connection.execute("begin isolation level repeatable read")
        do {
            let milliseconds = String(max(1, Int(deadlineSeconds * 1000)))
            // Settings and LOCK take no snapshot: SET TRANSACTION SNAPSHOT may still follow.
            try connection.execute(
                """
                set local statement_timeout = \(milliseconds); set local idle_in_transaction_session_timeout = \(milliseconds);
                set local timezone = 'UTC'; set local datestyle = 'ISO, MDY'; set local intervalstyle = 'postgres';
                set local extra_float_digits = 1; set local bytea_output = 'hex';
                lock table \(table.quoted) in access share mode
                """
            )
        } catch {
            close()
            throw error
        }
    }

    /// Imports the snapshot `cut` names into the transaction ``prepare(table:deadlineSeconds:)``
    /// began, and opens the cursor over the rows of `table` that pass its subscription's
    /// source-side condition (the function `condition`, as capture calls it; nil without one).
    public func open(_ cut: SnapshotCut, table: TableName, condition: String?) throws {
        do {
            try connection.execute("set transaction snapshot " + SQLQuoting.literal(cut.name))
            let kept = condition.map { " where \($0)(t)" } ?? ""
            try connection.execute("declare pgrelay_rows no scroll cursor for select pg_catalog.row_to_json(t)::text from \(table.quoted) t\(kept)")
        } catch {
            close()
            throw error
        }
    }

    /// The next page of rows (JSON texts), empty when every row was read.
    public func next() throws -> [String] {
        try connection.query("fetch \(unescaped: String(Self.pageRows)) from pgrelay_rows").map { try $0.decode("row_to_json") }
    }

    /// Ends the reader's transaction (read only: nothing to keep).
    public func close() {
        _ = try? connection.execute("rollback")
    }
}
