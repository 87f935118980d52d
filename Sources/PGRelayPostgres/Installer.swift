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
            // Functions come before the migrations that use them; their bodies may name tables those create.
            try connection.execute("set local check_function_bodies = off")
            try connection.execute(functions)
            for migration in migrations where !applied.contains(migration.version) {
                try connection.execute(migration.sql)
                try connection.query("insert into realtime.schema_migrations (version) values ($1)", [String(migration.version)])
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

    /// Installs the capture triggers on `table` for `events`, or changes the events of an existing
    /// subscription. The table's existing rows are not replayed; changes from now on are captured.
    @discardableResult
    public func subscribe(_ table: TableName, events: EventSet = .default) throws -> Subscription {
        try requireInitialized()
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
        let channel = ChannelName.forTable(table)
        let unsubscribe = TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(table: table)
        let subscribe = TriggerTemplate(try TriggerSQL.file("subscribe.sql")).renderSubscribe(table: table, channel: channel, events: events)
        try connection.transaction {
            let owner = try connection.query(
                "select schema_name, table_name from realtime.subscriptions where channel = $1 and (schema_name, table_name) <> ($2, $3)",
                [channel, table.schema, table.name]
            )
            if let other = owner.first {
                throw PostgresError(.query, "channel \(channel) is already used by \(TableName(schema: other[0] ?? "", name: other[1] ?? ""))")
            }
            try connection.execute(unsubscribe)
            try connection.execute(subscribe)
            try connection.query(
                """
                insert into realtime.subscriptions (schema_name, table_name, channel, events) values ($1, $2, $3, $4::text[])
                on conflict (schema_name, table_name) do update set channel = excluded.channel, events = excluded.events
                """,
                [table.schema, table.name, channel, "{" + events.sorted.map(\.rawValue).joined(separator: ",") + "}"]
            )
            try connection.query("select pg_notify($1, $2)", [ChannelName.subscriptionsChanged, "subscribe " + channel])
        }
        guard let subscription = try subscriptions().first(where: { $0.table == table }) else {
            throw PostgresError(.invalidData, "subscription of \(table) not found after subscribing")
        }
        return subscription
    }

    /// Removes the capture triggers of `table` and forgets the subscription. The log stays.
    public func unsubscribe(_ table: TableName) throws {
        try requireInitialized()
        guard try subscriptions().contains(where: { $0.table == table }) else {
            throw PostgresError(.unknownTable, "\(table) is not subscribed in database \"\(connection.databaseName)\"")
        }
        let exists = try connection.query("select to_regclass($1) is not null", [table.quoted]).first?[0] == "t"
        let sql = TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(table: table)
        try connection.transaction {
            if exists { try connection.execute(sql) }
            try connection.query("delete from realtime.subscriptions where schema_name = $1 and table_name = $2", [table.schema, table.name])
            try connection.query("select pg_notify($1, $2)", [ChannelName.subscriptionsChanged, "unsubscribe " + ChannelName.forTable(table)])
        }
    }

    /// Every subscription, with the state of its triggers, ordered by table.
    public func subscriptions() throws -> [Subscription] {
        try requireInitialized()
        let rows = try connection.query(
            """
            select s.schema_name, s.table_name, s.channel, array_to_string(s.events, ','),
                   to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   c.oid is not null,
                   (select t.tgenabled from pg_trigger t where t.tgrelid = c.oid and t.tgname = 'realtime_capture'),
                   (select t.tgenabled from pg_trigger t where t.tgrelid = c.oid and t.tgname = 'realtime_capture_truncate')
            from realtime.subscriptions s
            left join pg_namespace n on n.nspname = s.schema_name
            left join pg_class c on c.relnamespace = n.oid and c.relname = s.table_name
            order by s.schema_name, s.table_name
            """
        )
        return try rows.map { row in
            Subscription(
                table: TableName(schema: row[0] ?? "", name: row[1] ?? ""),
                channel: row[2] ?? "",
                events: try EventSet(parsing: row[3] ?? ""),
                createdAt: row[4] ?? "",
                trigger: .init(tableExists: row[5] == "t", rowTrigger: row[6]?.first, truncateTrigger: row[7]?.first)
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
