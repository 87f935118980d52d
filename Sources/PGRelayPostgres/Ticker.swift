import Foundation

/// Takes ticks: records the database's current snapshot as the next tick of the log, which is
/// what numbers the changes committed since the last one (`realtime.tick()`, triggers/sql/functions/realtime.tick.sql).
///
/// Any relay, `listen` and `replay` may tick; ticks are serialized in the database, and a tick
/// when nothing committed is a cheap read that writes nothing.
public struct Ticker {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// Ticks if anything committed since the last tick; returns the newest id.
    @discardableResult
    public func tick() throws -> Int64 {
        try connection.query("select realtime.tick() as newest")[0].decode("newest")
    }

    /// What a tick found: the newest id and the history it belongs to.
    public struct Found: Sendable, Equatable {
        public var newest: Int64
        public var history: Int
    }

    /// Ticks as ``tick()`` does, for a reader that read up to `known` from this log before: when
    /// the log now ends before it, the database lost ids it had issued, and the tick begins a new
    /// history (as it does when the server's timeline changed; realtime.record_tick).
    /// With `checkShapes`, it also looks for subscribed tables whose shape changed with no write
    /// since (realtime.log_schema_changes): their SCHEMA rows are logged now.
    public func tick(known: Int64?, checkShapes: Bool = false) throws -> Found {
        let row = try connection.query("select newest_id, history from realtime.tick(\(known)::bigint, \(checkShapes))")[0]
        return Found(newest: try row.decode("newest_id"), history: try row.decode("history"))
    }
}

/// The database side of ``AwakeLease``: the lease `auto` writers look at, and the writers a
/// reader waits for before it sleeps.
extension Ticker {
    /// Extends the lease in `realtime.awake_until` to `seconds` from now (schema version 12).
    public func stayAwake(seconds: Double) throws {
        try connection.query("select realtime.stay_awake(\(seconds))")
    }

    /// The transactions that hold a write lock on `realtime.log` now, as a text array literal
    /// (`{3/120,5/8}`, virtual transaction ids, which are never reused). Every writer that looked
    /// at the lease is among them until it ends: it wrote its log row before it looked. Prepared
    /// transactions are left out: they cannot have sent a NOTIFY.
    public func writersOnLog() throws -> String {
        try connection.query(
            """
            select coalesce(array_agg(distinct l.virtualtransaction), '{}')::text as writers from pg_catalog.pg_locks l
             where l.locktype = 'relation' and l.relation = 'realtime.log'::regclass and l.mode = 'RowExclusiveLock'
               and l.pid is distinct from pg_backend_pid() and l.virtualtransaction not like '-1/%'
            """
        )[0].decode("writers")
    }

    /// Whether any of `writers` (from ``writersOnLog()``) is still running.
    public func anyRunning(_ writers: String) throws -> Bool {
        guard writers != "{}" else { return false }
        return try connection.query(
            "select exists (select from pg_catalog.pg_locks where locktype = 'virtualxid' and virtualxid = any(\(writers)::text[])) as running"
        )[0].decode("running")
    }
}
