import Foundation
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
    /// The id the cut is after (once ``recorded(on:timeoutSeconds:)`` returned, when ``candidate`` is set).
    public var after: Int64
    /// While a table is captured from the WAL, the snapshot is a proposed tick
    /// (realtime.propose_tick) that the capturer records once it appended every transaction the
    /// snapshot sees: ``after`` is known then.
    public var candidate: Int64?

    /// Begins the exporter's transaction and takes the cut, waiting up to `timeoutSeconds` for the
    /// tick lock (other snapshots' exporters hold it while their readers import: several at once
    /// wait their turns). On error the transaction is rolled back.
    public static func take(on exporter: Connection, timeoutSeconds: Double) throws -> SnapshotCut {
        try exporter.execute("begin isolation level read committed")
        do {
            try exporter.execute("set local statement_timeout = \(max(1, Int(timeoutSeconds * 1000)))")
            let row = try exporter.query("select snapshot_name, after_id, candidate from realtime.snapshot_tick()")[0]
            let candidate: Int64? = try row.decode("candidate")
            let after: Int64? = try row.decode("after_id")
            return SnapshotCut(name: try row.decode("snapshot_name"), after: after ?? 0, candidate: candidate)
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

    /// The cut with its ``after`` known: when the snapshot was proposed, waits (after the exporter
    /// committed it) for the WAL capturer to record it, up to `timeoutSeconds`: as long as the
    /// capturer takes to read the WAL past the proposal, a few milliseconds when it keeps up.
    public func recorded(on connection: Connection, timeoutSeconds: Double) throws -> SnapshotCut {
        guard let candidate else { return self }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var pause = 0.002
        while true {
            let rows = try connection.query("select after_id from realtime.tick_candidates where candidate = \(candidate)")
            if let after: Int64 = try rows.first?.decode("after_id") {
                return SnapshotCut(name: name, after: after, candidate: nil)
            }
            guard Date() < deadline else {
                throw PostgresError(
                    .connection,
                    "the WAL capturer did not record the snapshot within \(Int(timeoutSeconds)) s: is a relay with the REPLICATION right running? (pgrelay status)"
                )
            }
            Thread.sleep(forTimeInterval: pause)
            pause = min(pause * 2, 0.05)
        }
    }
}
