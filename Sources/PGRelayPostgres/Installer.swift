import Foundation
import PGRelayCore
import PGRelaySQL

/// Installs and removes pgrelay's schema and per-table triggers: `init`, `subscribe`, `unsubscribe`.
public struct Installer {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// What `init` did.
    public struct InitResult: Equatable, Sendable {
        /// The schema version found, 0 for a database pgrelay had never seen.
        public var previousVersion: Int
        public var version: Int
    }

    /// Installs or upgrades the `realtime` schema: applies each migration not yet applied, in order,
    /// then re-applies the trigger functions. Idempotent; safe to run while writes go on.
    @discardableResult
    public func initialize() throws -> InitResult {
        let migrations = try TriggerSQL.migrations()
        let functions = try TriggerSQL.file("functions.sql")
        let bootstrap = try TriggerSQL.file("bootstrap.sql")
        return try connection.transaction {
            // Two concurrent `init`s would race on the migrations; the second waits here.
            try connection.execute("select pg_advisory_xact_lock(1885827685, 1)")
            try connection.execute(bootstrap)
            let applied = Set(try connection.query("select version from realtime.schema_migrations").compactMap { $0[0].flatMap(Int.init) })
            let previous = applied.max() ?? 0
            for migration in migrations where !applied.contains(migration.version) {
                try connection.execute(migration.sql)
                try connection.query("insert into realtime.schema_migrations (version) values ($1)", [String(migration.version)])
            }
            try connection.execute(functions)
            // Version 3 captures with other triggers: reinstall every subscription's (0003_ticks.sql
            // dropped the old ones, and with them waited for the writers that used them).
            if previous > 0, previous < 3 {
                for subscription in try subscriptions() {
                    guard subscription.trigger.tableExists else { continue }
                    try installTriggers(subscription.table, channel: subscription.channel, events: subscription.events, notify: subscription.notify)
                }
            }
            return InitResult(previousVersion: previous, version: migrations.map(\.version).max() ?? 0)
        }
    }

    /// Fails with "run pgrelay init" unless the `realtime` schema is installed.
    public func requireInitialized() throws {
        let rows = try connection.query("select to_regclass('realtime.subscriptions') is not null")
        guard rows.first?[0] == "t" else {
            throw PostgresError(
                .notInitialized,
                "pgrelay is not installed in database \"\(connection.databaseName)\" (no realtime schema); run pgrelay init"
            )
        }
    }

    /// Installs the capture triggers on `table` for `events`, or changes the events and notify mode
    /// of an existing subscription. The table's existing rows are not replayed; changes from now on
    /// are captured.
    /// - Parameter notify: nil keeps the mode of a subscribed table (`wake` for a new one), so that
    ///   changing the events never changes what writers pay unasked.
    @discardableResult
    public func subscribe(_ table: TableName, events: EventSet = .default, notify requested: NotifyMode? = nil) throws -> Subscription {
        try requireInitialized()
        // By oid first: a table renamed since it was subscribed keeps its subscription and channel.
        let existing = try connection.query(
            """
            select notify, channel from realtime.subscriptions
             where relid = to_regclass($3)::oid or (schema_name = $1 and table_name = $2)
             order by relid = to_regclass($3)::oid desc nulls last limit 1
            """,
            [table.schema, table.name, table.quoted]
        ).first
        let current = existing?[0] ?? nil
        let notify = try requested ?? current.map(NotifyMode.init(parsing:)) ?? .default
        let kind = try connection.query(
            "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2",
            [table.schema, table.name]
        ).first?[0] ?? nil
        switch kind {
        case nil:
            throw PostgresError(.unknownTable, "table \(table) does not exist in database \"\(connection.databaseName)\"")
        case "r", "p":
            break
        default:
            throw PostgresError(.unknownTable, "\(table) is not a table (relkind '\(kind!)'); only tables can be subscribed")
        }
        let channel = (existing?[1] ?? nil) ?? ChannelName.forTable(table)
        try connection.transaction {
            let owner = try connection.query(
                """
                select schema_name, table_name from realtime.subscriptions
                 where channel = $1 and (schema_name, table_name) <> ($2, $3) and relid is distinct from to_regclass($4)::oid
                """,
                [channel, table.schema, table.name, table.quoted]
            )
            if let other = owner.first {
                throw PostgresError(.query, "channel \(channel) is already used by \(TableName(schema: other[0] ?? "", name: other[1] ?? ""))")
            }
            try installTriggers(table, channel: channel, events: events, notify: notify)
            // A renamed table's row is found by its channel and takes the new name.
            try connection.query("delete from realtime.subscriptions where channel = $1 and (schema_name, table_name) <> ($2, $3)", [channel, table.schema, table.name])
            try connection.query(
                """
                insert into realtime.subscriptions (schema_name, table_name, channel, events, notify, relid)
                values ($1, $2, $3, $4::text[], $5, to_regclass($6)::oid)
                on conflict (schema_name, table_name)
                do update set channel = excluded.channel, events = excluded.events, notify = excluded.notify, relid = excluded.relid
                """,
                [table.schema, table.name, channel, "{" + events.sorted.map(\.rawValue).joined(separator: ",") + "}", notify.rawValue, table.quoted]
            )
            try connection.query("select pg_notify($1, $2)", [ChannelName.subscriptionsChanged, "subscribe " + channel])
        }
        guard let subscription = try subscriptions().first(where: { $0.table == table }) else {
            throw PostgresError(.invalidData, "subscription of \(table) not found after subscribing")
        }
        return subscription
    }

    /// Replaces the capture triggers of `table` with those for `events` and `notify`, inside the caller's transaction.
    private func installTriggers(_ table: TableName, channel: String, events: EventSet, notify: NotifyMode) throws {
        let unsubscribe = TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(table: table)
        let subscribe = TriggerTemplate(try TriggerSQL.file("subscribe.sql"))
            .renderSubscribe(table: table, channel: channel, events: events, notify: notify, key: try keyColumns(of: table))
        try connection.execute(unsubscribe)
        try connection.execute(subscribe)
    }

    /// The columns that identify a row of `table`, in index order: its replica identity index when
    /// it has one (REPLICA IDENTITY USING INDEX), else its primary key; empty when it has neither.
    func keyColumns(of table: TableName) throws -> [String] {
        try connection.query(
            """
            with rel as (select $1::regclass as oid),
            key as (
                select i.indexrelid, i.indkey from pg_index i, rel
                 where i.indrelid = rel.oid and (i.indisreplident or i.indisprimary)
                 order by i.indisreplident desc limit 1
            )
            select a.attname from key
              join pg_attribute a on a.attrelid = (select oid from rel) and a.attnum = any(key.indkey::int2[])
             order by array_position(key.indkey::int2[], a.attnum)
            """,
            [table.quoted]
        ).compactMap { $0[0] }
    }

    /// Removes the capture triggers of `table` and forgets the subscription. The log stays.
    public func unsubscribe(_ table: TableName) throws {
        try requireInitialized()
        guard let subscription = try subscriptions().first(where: { $0.table == table }) else {
            throw PostgresError(.unknownTable, "\(table) is not subscribed in database \"\(connection.databaseName)\"")
        }
        let exists = try connection.query("select to_regclass($1) is not null", [table.quoted]).first?[0] == "t"
        let sql = TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(table: table, tableExists: exists)
        try connection.transaction {
            try connection.execute(sql)
            try connection.query("delete from realtime.subscriptions where channel = $1", [subscription.channel])
            try connection.query("select pg_notify($1, $2)", [ChannelName.subscriptionsChanged, "unsubscribe " + subscription.channel])
        }
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
                   s.notify
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
                trigger: .init(tableExists: row[5] == "t", enabled: enabled)
            )
        }
    }

    /// The subscription of each table, in the order given; an unsubscribed table is an error that says what to run.
    public func subscriptions(for tables: [TableName]) throws -> [Subscription] {
        let all = try subscriptions()
        return try tables.map { table in
            guard let found = all.first(where: { $0.table == table }) else {
                let exists = try connection.query("select to_regclass($1) is not null", [table.quoted]).first?[0] == "t"
                let reason = exists ? "is not subscribed; run pgrelay subscribe \(table)" : "does not exist in database \"\(connection.databaseName)\""
                throw PostgresError(.unknownTable, "table \(table) \(reason)")
            }
            return found
        }
    }
}
