import Foundation
import PGRelayCore

/// Reads and trims the durable log: `realtime.commits` (ids, commit times) joined with
/// `realtime.changes` (the records).
public struct ChangeLog {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    static let timestampFormat = #"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#

    /// Changes with ids after `id`, oldest first, at most `limit`; only those on `channels` when given.
    public func read(after id: Int64, channels: [String]? = nil, limit: Int = 1000) throws -> [ChangeEvent] {
        let rows = try connection.query(
            """
            select c.first_id + (ch.ord - c.first_ord) as id,
                   to_char(c.committed_at at time zone 'UTC', \(Self.timestampFormat)),
                   ch.record::text
            from realtime.commits c
            join realtime.changes ch
              on ch.xid = c.xid and ch.ord between c.first_ord and c.first_ord + (c.last_id - c.first_id)
            where c.last_id > $1
              and c.first_id + (ch.ord - c.first_ord) > $1
              and ($2::text[] is null or ch.channel = any($2::text[]))
            order by 1
            limit $3
            """,
            [String(id), channels.map(Self.textArray), String(limit)]
        )
        return try rows.map(Self.event)
    }

    /// The change with this id, or nil when it is not in the log (cleaned up, or never committed).
    public func change(id: Int64) throws -> ChangeEvent? {
        try read(after: id - 1, limit: 1).first.flatMap { $0.id == id ? $0 : nil }
    }

    /// The newest committed id, 0 for an empty log.
    public func newestID() throws -> Int64 {
        Int64(try connection.query("select realtime.newest_id()").first?[0] ?? "0") ?? 0
    }

    /// The id to replay after so that the first change returned is the first committed at or after `date`.
    public func lastID(before date: Date) throws -> Int64 {
        let rows = try connection.query(
            "select min(first_id) - 1 from realtime.commits where committed_at >= to_timestamp($1)",
            [String(date.timeIntervalSince1970)]
        )
        if let value = rows.first?[0] ?? nil, let id = Int64(value) { return id }
        return try newestID()
    }

    /// Deletes changes committed more than `seconds` ago; returns how many were deleted.
    @discardableResult
    public func deleteChanges(olderThanSeconds seconds: Int64) throws -> Int {
        try connection.transaction {
            let rows = try connection.query(
                """
                with old as (
                    delete from realtime.commits where committed_at < now() - make_interval(secs => $1)
                    returning xid, first_ord, last_id - first_id as span
                )
                delete from realtime.changes ch using old
                where ch.xid = old.xid and ch.ord between old.first_ord and old.first_ord + old.span
                returning 1
                """,
                [String(seconds)]
            )
            return rows.count
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
        let row = try connection.query(
            """
            select (select coalesce(max(version), 0) from realtime.schema_migrations),
                   (select count(*) from realtime.subscriptions),
                   (select count(*) from realtime.changes),
                   pg_total_relation_size('realtime.changes') + pg_total_relation_size('realtime.commits'),
                   realtime.newest_id(),
                   (select to_char(min(committed_at) at time zone 'UTC', \(Self.timestampFormat)) from realtime.commits),
                   (select to_char(max(committed_at) at time zone 'UTC', \(Self.timestampFormat)) from realtime.commits),
                   pg_notification_queue_usage(),
                   (select count(*) from pg_stat_activity where application_name like 'pgrelay listen%' and datname = current_database())
            """
        ).first ?? []
        func int(_ i: Int) -> Int64 { row.indices.contains(i) ? Int64(row[i] ?? "0") ?? 0 : 0 }
        return Statistics(
            schemaVersion: Int(int(0)),
            subscriptions: Int(int(1)),
            changes: int(2),
            bytes: int(3),
            newestID: int(4),
            oldestCommit: row.indices.contains(5) ? row[5] : nil,
            newestCommit: row.indices.contains(6) ? row[6] : nil,
            notificationQueueUsage: row.indices.contains(7) ? Double(row[7] ?? "0") ?? 0 : 0,
            listeners: Int(int(8))
        )
    }

    static func event(_ row: [String?]) throws -> ChangeEvent {
        guard row.count == 3, let idText = row[0], let id = Int64(idText), let timestamp = row[1], let record = row[2] else {
            throw PostgresError(.invalidData, "unexpected row from realtime.changes")
        }
        do {
            return try ChangeEvent(id: id, timestamp: timestamp, record: JSONValue(parsing: record))
        } catch {
            throw PostgresError(.invalidData, "change \(id) in realtime.changes: \(error)")
        }
    }

    /// A Postgres text[] literal: `{"a","b"}`, each element quoted and escaped.
    static func textArray(_ values: [String]) -> String {
        "{" + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
    }
}
