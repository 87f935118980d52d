import PGRelayCore

/// The exact cut a live query starts from: a snapshot that is a tick boundary
/// (`realtime.snapshot_tick()`, triggers/sql/functions/realtime.snapshot_tick.sql). Every change
/// up to ``after`` is visible in it and none after, so the table's rows read in it, followed by
/// the changes after ``after``, are the table with no gap and no duplicate.
///
/// Two connections take part: the exporter opens a READ COMMITTED transaction, exports the
/// snapshot and records it as a tick; the reader imports it (``SnapshotRows/open``) before the
/// exporter commits, which it must then do at once (``commit(exporter:)``): the tick lock is held
/// until then, and other tickers wait for it.
public struct SnapshotCut: Sendable, Equatable {
    /// The exported snapshot's name, for `SET TRANSACTION SNAPSHOT`.
    public var name: String
    /// The id the cut is after.
    public var after: Int64

    /// Begins the exporter's transaction and takes the cut, waiting up to `timeoutSeconds` for the
    /// tick lock (other snapshots' exporters hold it while their readers import: several at once
    /// wait their turns). On error the transaction is rolled back.
    public static func take(on exporter: Connection, timeoutSeconds: Double) throws -> SnapshotCut {
        try exporter.execute("begin isolation level read committed")
        do {
            try exporter.execute("set local statement_timeout = \(max(1, Int(timeoutSeconds * 1000)))")
            let row = try exporter.query("select snapshot_name, after_id from realtime.snapshot_tick()")[0]
            return SnapshotCut(name: try row.decode("snapshot_name"), after: try row.decode("after_id"))
        } catch {
            _ = try? exporter.execute("rollback")
            throw error
        }
    }

    /// Ends the exporter's transaction: the tick is recorded and the lock released. Call it once
    /// the reader imported the snapshot, or failed to.
    public static func commit(exporter: Connection) throws {
        try exporter.execute("commit")
    }
}
