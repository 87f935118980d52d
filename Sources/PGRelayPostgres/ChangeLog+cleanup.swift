import Foundation
import PGRelayCore

/// Trimming the log (`pgrelay cleanup`) and its figures (`pgrelay status`).
extension ChangeLog {
    /// Deletes the changes of every tick taken more than `seconds` ago, whole ticks only, and the
    /// ticks themselves but the newest of them (the next tick's batch starts at its snapshot).
    /// Returns how many changes (channel messages included) were deleted.
    @discardableResult
    public func deleteChanges(olderThanSeconds seconds: Int64) throws -> Int {
        let removed = try removeOlder(thanSeconds: seconds, dryRun: false)
        return Int(removed.changes + removed.messages)
    }

    /// What retention removed, or would remove.
    public struct Removal: Equatable, Sendable {
        /// Table changes (in rows), channel messages, and ticks.
        public var changes: Int64
        public var messages: Int64
        public var ticks: Int64
    }

    /// The changes and channel messages of every tick taken more than `seconds` ago, whole ticks
    /// only, and those ticks but the newest of them: deleted, or with `dryRun` only counted.
    public func removeOlder(thanSeconds seconds: Int64, dryRun: Bool) throws -> Removal {
        let horizon = """
            horizon as (
                select tick, snapshot from realtime.ticks
                 where taken_at < now() - make_interval(secs => $1) order by tick desc limit 1
            )
            """
        let old = "l.xid < pg_snapshot_xmax(h.snapshot) and pg_visible_in_snapshot(l.xid, h.snapshot)"
        let tally = """
            select coalesce(sum(n) filter (where not channel ^@ $2), 0) as changes,
                   coalesce(sum(n) filter (where channel ^@ $2 and op = 'MESSAGE'), 0) as messages,
                   (select count(*) from ticks) as ticks
              from gone
            """
        let legacyAge = "committed_at < now() - make_interval(secs => $1)"
        let sql =
            dryRun
            ? """
            with \(horizon),
            gone as (select l.n, l.channel, l.record->>'operation' as op from realtime.log l, horizon h where \(old)),
            ticks as (select 1 from realtime.ticks t, horizon h where t.tick < h.tick)
            \(tally)
            """
            : """
            with \(horizon),
            gone as (delete from realtime.log l using horizon h where \(old) returning l.n, l.channel, l.record->>'operation' as op),
            ticks as (delete from realtime.ticks t using horizon h where t.tick < h.tick returning 1)
            \(tally)
            """
        return try connection.transaction {
            let legacySQL =
                dryRun
                ? "select count(*) from realtime.legacy_changes where \(legacyAge)"
                : "with gone as (delete from realtime.legacy_changes where \(legacyAge) returning 1) select count(*) from gone"
            let legacy: Int64 = try connection.query(SQL(numbered: legacySQL, [seconds]))[0].decode("count")
            let row = try connection.query(SQL(numbered: sql, [seconds, ChannelName.messagePrefix]))[0]
            return Removal(changes: legacy + (try row.decode("changes")), messages: try row.decode("messages"), ticks: try row.decode("ticks"))
        }
    }

    /// Figures for `pgrelay status`.
    public struct Statistics: Equatable, Sendable {
        public var schemaVersion: Int
        public var subscriptions: Int
        public var changes: Int64
        public var bytes: Int64
        public var newestID: Int64
        public var oldestCommit: String?
        public var newestCommit: String?
        /// `pg_notification_queue_usage()`: the share of Postgres' notification queue taken by
        /// notifications some listener has not read yet. Near 1, writers start failing.
        public var notificationQueueUsage: Double
        /// Connections of pgrelay listeners (application_name "pgrelay listener" or "pgrelay listen --channel").
        public var listeners: Int
    }

    public func statistics() throws -> Statistics {
        let row =
            try connection.query(
                """
                select (select coalesce(max(version), 0) from realtime.schema_migrations) as version,
                       (select count(*) from realtime.subscriptions) as subscriptions,
                       (select coalesce(sum(n), 0) from realtime.log) + (select count(*) from realtime.legacy_changes) as changes,
                       pg_total_relation_size('realtime.log') + pg_total_relation_size('realtime.ticks')
                           + pg_total_relation_size('realtime.legacy_changes') as bytes,
                       realtime.newest_id() as newest,
                       (select to_char(least((select min(committed_at) from realtime.legacy_changes),
                                             (select min(taken_at) from realtime.ticks where tick > 0 and last_id >= first_id))
                                       at time zone 'UTC', \(unescaped: Self.timestampFormat))) as oldest_commit,
                       (select to_char(greatest((select max(committed_at) from realtime.legacy_changes),
                                                (select max(taken_at) from realtime.ticks where tick > 0 and last_id >= first_id))
                                       at time zone 'UTC', \(unescaped: Self.timestampFormat))) as newest_commit,
                       pg_notification_queue_usage() as queue_usage,
                       (select count(*) from pg_stat_activity where application_name like 'pgrelay listen%' and datname = current_database()) as listeners
                """
            )[0]
        return Statistics(
            schemaVersion: try row.decode("version"),
            subscriptions: try row.decode("subscriptions"),
            changes: try row.decode("changes"),
            bytes: try row.decode("bytes"),
            newestID: try row.decode("newest"),
            oldestCommit: try row.decode("oldest_commit"),
            newestCommit: try row.decode("newest_commit"),
            notificationQueueUsage: try row.decode("queue_usage"),
            listeners: try row.decode("listeners")
        )
    }
}
