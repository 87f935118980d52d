import Foundation
import PGRelayCore
import PGRelaySQL

/// Removing subscriptions, and listing them with their health.
extension Installer {
    /// Removes the capture triggers of `table` and forgets the subscription; the log stays, and
    /// its channel is kept from any other table. `table` is the table's current name; a dropped
    /// table's subscription is removed by the name it had.
    public func unsubscribe(_ table: TableName) throws {
        try schema.requireInitialized()
        let hasCapture = try schema.schemaVersion() >= SchemaMigration.walCaptureVersion
        try connection.transaction {
            try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
            let live = try connection.query(
                "select channel, schema_name, table_name, relid from realtime.subscriptions where relid = to_regclass(\(table.quoted))::oid"
            ).first
            let dropped =
                try live == nil
                ? connection.query(
                    """
                    select channel, schema_name, table_name, relid from realtime.subscriptions s
                     where (schema_name, table_name) = (\(table.schema), \(table.name)) and not exists (select from pg_class c where c.oid = s.relid)
                    """
                ).first : nil
            guard let row = live ?? dropped else {
                if let now = try renamedSubscription(of: table) {
                    throw PostgresError(
                        .unknownTable, "\(table) was renamed to \(now), and its subscription followed it; run pgrelay unsubscribe \(now)"
                    )
                }
                throw PostgresError(.unknownTable, "\(table) is not subscribed in database \"\(connection.databaseName)\"")
            }
            let channel: String = try row.decode("channel")
            let subscribedAs = TableName(schema: try row.decode("schema_name"), name: try row.decode("table_name"))
            if hasCapture, live != nil,
                try connection.query("select capture = 'wal' as wal from realtime.subscriptions where channel = \(channel)")[0].decode(
                    "wal", as: Bool.self)
            {
                try WALCaptureSetup(connection: connection).unpublish(table)
            }
            try retire(channel: channel, relid: try row.decode("relid"), currentName: live == nil ? nil : table, subscribedAs: subscribedAs)
            try connection.query("select pg_notify(\(ChannelName.subscriptionsChanged), \("unsubscribe " + channel))")
        }
        if hasCapture { try WALCaptureSetup(connection: connection).retireIfUnused() }
    }

    /// Drops what subscribing installed (triggers on the table when it still exists, the UPDATE
    /// function) and moves the subscription's channel to `retired_channels`, inside the caller's transaction.
    func retire(channel: String, relid: UInt32?, currentName: TableName?, subscribedAs: TableName) throws {
        try connection.execute(
            TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(
                table: currentName, channel: channel, formerlyNamed: subscribedAs)
        )
        try connection.query("delete from realtime.subscriptions where channel = \(channel)")
        try connection.query("delete from realtime.shapes where channel = \(channel)")
        try connection.query(
            """
            insert into realtime.retired_channels (channel, relid, schema_name, table_name)
            values (\(channel), \(relid), \(subscribedAs.schema), \(subscribedAs.name))
            on conflict (channel) do update set relid = excluded.relid, retired_at = now()
            """
        )
    }

    /// The name a subscription's table had when it was (last) subscribed.
    func subscribedName(channel: String) throws -> TableName {
        let row = try connection.query("select schema_name, table_name from realtime.subscriptions where channel = \(channel)")[0]
        return TableName(schema: try row.decode("schema_name"), name: try row.decode("table_name"))
    }

    /// Every subscription, with the state of its triggers, ordered by table.
    public func subscriptions() throws -> [Subscription] {
        try schema.requireInitialized()
        let hasConditions = try schema.schemaVersion() >= SchemaMigration.operationsVersion
        let hasCapture = try schema.schemaVersion() >= SchemaMigration.walCaptureVersion
        let rows = try connection.query(
            """
            select coalesce(n.nspname::text, s.schema_name) as schema_name, coalesce(c.relname::text, s.table_name) as table_name,
                   s.channel, array_to_string(s.events, ',') as events,
                   to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created_at,
                   c.oid is not null as table_exists,
                   (select string_agg(t.tgname::text || '=' || t.tgenabled::text, ',') from pg_trigger t
                     where t.tgrelid = c.oid and t.tgname like 'realtime\\_capture\\_%') as triggers,
                   s.notify, \(unescaped: hasConditions ? "s.id, s.condition" : "null::bigint as id, null::text as condition"),
                   \(unescaped: hasCapture ? "s.capture" : "'trigger'::text as capture"),
                   exists (select from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
                            where p.pubname = 'pgrelay' and r.prrelid = c.oid) as published
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
            for entry in try row.decode("triggers", as: String?.self)?.split(separator: ",") ?? [] {
                let parts = entry.split(separator: "=", maxSplits: 1)
                if parts.count == 2, let state = parts[1].first { enabled[String(parts[0])] = state }
            }
            var subscription = Subscription(
                table: TableName(schema: try row.decode("schema_name"), name: try row.decode("table_name")),
                channel: try row.decode("channel"),
                events: try EventSet(parsing: row.decode("events")),
                notify: try NotifyMode(parsing: row.decode("notify")),
                createdAt: try row.decode("created_at"),
                trigger: .init(tableExists: try row.decode("table_exists"), enabled: enabled),
                id: try row.decode("id"),
                condition: try row.decode("condition")
            )
            subscription.capture = try CaptureKind(parsing: row.decode("capture"))
            subscription.published = try row.decode("published")
            return subscription
        }
    }

    /// The subscription of each table, in the order given; an unsubscribed table is an error that says what to run.
    public func subscriptions(for tables: [TableName]) throws -> [Subscription] {
        let all = try subscriptions()
        return try tables.map { table in
            guard let found = all.first(where: { $0.table == table }) else {
                let exists = try catalog.exists(table)
                // Renamed since it was subscribed (its subscription follows it): say the new name.
                if !exists, let now = try renamedSubscription(of: table) {
                    throw PostgresError(.unknownTable, "table \(table) was renamed to \(now); ask for \(now)")
                }
                let reason =
                    exists ? "is not subscribed; run pgrelay subscribe \(table)" : "does not exist in database \"\(connection.databaseName)\""
                throw PostgresError(.unknownTable, "table \(table) \(reason)")
            }
            return found
        }
    }

    /// The current name of the table subscribed as `table`, when it was renamed since (its
    /// subscription follows it by oid); nil when no subscription was made under that name.
    func renamedSubscription(of table: TableName) throws -> TableName? {
        try connection.query(
            """
            select n.nspname, c.relname from realtime.subscriptions s
              join pg_class c on c.oid = s.relid join pg_namespace n on n.oid = c.relnamespace
             where (s.schema_name, s.table_name) = (\(table.schema), \(table.name)) limit 1
            """
        ).first.map { TableName(schema: try $0.decode("nspname"), name: try $0.decode("relname")) }
    }
}
