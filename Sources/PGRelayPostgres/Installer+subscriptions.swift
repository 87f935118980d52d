import Foundation
import PGRelayCore
import PGRelaySQL

/// Removing subscriptions, and listing them with their health.
extension Installer {
    /// Removes the capture triggers of `table` and forgets the subscription; the log stays, and
    /// its channel is kept from any other table. `table` is the table's current name; a dropped
    /// table's subscription is removed by the name it had.
    public func unsubscribe(_ table: TableName) throws {
        try requireInitialized()
        try connection.transaction {
            try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
            let live = try connection.query(
                "select channel, schema_name, table_name, relid from realtime.subscriptions where relid = to_regclass($1)::oid",
                [table.quoted]
            ).first
            let dropped =
                try live == nil
                ? connection.query(
                    """
                    select channel, schema_name, table_name, relid from realtime.subscriptions s
                     where (schema_name, table_name) = ($1, $2) and not exists (select from pg_class c where c.oid = s.relid)
                    """,
                    [table.schema, table.name]
                ).first : nil
            guard let row = live ?? dropped, let channel = row[0] else {
                if let renamed = try connection.query(
                    """
                    select n.nspname, c.relname from realtime.subscriptions s
                      join pg_class c on c.oid = s.relid join pg_namespace n on n.oid = c.relnamespace
                     where (s.schema_name, s.table_name) = ($1, $2) limit 1
                    """,
                    [table.schema, table.name]
                ).first {
                    let now = TableName(schema: renamed[0] ?? "", name: renamed[1] ?? "")
                    throw PostgresError(
                        .unknownTable, "\(table) was renamed to \(now), and its subscription followed it; run pgrelay unsubscribe \(now)"
                    )
                }
                throw PostgresError(.unknownTable, "\(table) is not subscribed in database \"\(connection.databaseName)\"")
            }
            let subscribedAs = TableName(schema: row[1] ?? "", name: row[2] ?? "")
            try retire(channel: channel, relid: row[3] ?? nil, currentName: live == nil ? nil : table, subscribedAs: subscribedAs)
            try connection.query("select pg_notify($1, $2)", [ChannelName.subscriptionsChanged, "unsubscribe " + channel])
        }
    }

    /// Drops what subscribing installed (triggers on the table when it still exists, the UPDATE
    /// function) and moves the subscription's channel to `retired_channels`, inside the caller's transaction.
    func retire(channel: String, relid: String?, currentName: TableName?, subscribedAs: TableName) throws {
        try connection.execute(
            TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(
                table: currentName, channel: channel, formerlyNamed: subscribedAs)
        )
        try connection.query("delete from realtime.subscriptions where channel = $1", [channel])
        try connection.query(
            """
            insert into realtime.retired_channels (channel, relid, schema_name, table_name) values ($1, $2, $3, $4)
            on conflict (channel) do update set relid = excluded.relid, retired_at = now()
            """,
            [channel, relid, subscribedAs.schema, subscribedAs.name]
        )
    }

    /// The name a subscription's table had when it was (last) subscribed.
    func subscribedName(channel: String) throws -> TableName {
        let row = try connection.query("select schema_name, table_name from realtime.subscriptions where channel = $1", [channel]).first
        return TableName(schema: row?[0] ?? "", name: row?[1] ?? "")
    }

    /// Every subscription, with the state of its triggers, ordered by table.
    public func subscriptions() throws -> [Subscription] {
        try requireInitialized()
        let rows = try connection.query(
            """
            select coalesce(n.nspname::text, s.schema_name), coalesce(c.relname::text, s.table_name), s.channel, array_to_string(s.events, ','),
                   to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   c.oid is not null,
                   (select string_agg(t.tgname::text || '=' || t.tgenabled::text, ',') from pg_trigger t
                     where t.tgrelid = c.oid and t.tgname like 'realtime\\_capture\\_%'),
                   s.notify, \(try schemaVersion() >= Self.operationsVersion ? "s.id, s.condition" : "null, null")
            from realtime.subscriptions s
            -- By oid, so that a renamed table is reported by its current name; by name for rows
            -- that predate schema version 4 and whose table was gone when it was applied.
            left join pg_class c on c.oid = coalesce(s.relid, to_regclass(format('%I.%I', s.schema_name, s.table_name))::oid)
            left join pg_namespace n on n.oid = c.relnamespace
            order by 1, 2
            """
        )
        return try rows.map { row in
            var enabled: [String: Character] = [:]
            for entry in (row[6] ?? "").split(separator: ",") {
                let parts = entry.split(separator: "=", maxSplits: 1)
                if parts.count == 2, let state = parts[1].first { enabled[String(parts[0])] = state }
            }
            return Subscription(
                table: TableName(schema: row[0] ?? "", name: row[1] ?? ""),
                channel: row[2] ?? "",
                events: try EventSet(parsing: row[3] ?? ""),
                notify: try NotifyMode(parsing: row[7] ?? "wake"),
                createdAt: row[4] ?? "",
                trigger: .init(tableExists: row[5] == "t", enabled: enabled),
                id: row[8].flatMap { Int64($0) },
                condition: row[9]
            )
        }
    }

    /// The subscription of each table, in the order given; an unsubscribed table is an error that says what to run.
    public func subscriptions(for tables: [TableName]) throws -> [Subscription] {
        let all = try subscriptions()
        return try tables.map { table in
            guard let found = all.first(where: { $0.table == table }) else {
                let exists = try connection.query("select to_regclass($1) is not null", [table.quoted]).first?[0] == "t"
                let reason =
                    exists ? "is not subscribed; run pgrelay subscribe \(table)" : "does not exist in database \"\(connection.databaseName)\""
                throw PostgresError(.unknownTable, "table \(table) \(reason)")
            }
            return found
        }
    }
}
