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
        /// Tables whose `wake` subscription this run moved to `auto` (upgrading past version 12).
        public var movedToAuto: [TableName] = []
    }

    /// Installs or upgrades the `realtime` schema: applies each migration not yet applied, in order,
    /// then re-applies the trigger functions. Idempotent; safe to run while writes go on.
    @discardableResult
    public func initialize() throws -> InitResult {
        let migrations = try TriggerSQL.migrations()
        let functions = try TriggerSQL.file("functions.sql")
        let capture = try TriggerSQL.file("capture.sql")
        let bootstrap = try TriggerSQL.file("bootstrap.sql")
        do {
            return try initialize(migrations: migrations, functions: functions + "\n" + capture, bootstrap: bootstrap)
        } catch let error as PostgresError
            where [SQLState.uniqueViolation, SQLState.duplicateSchema, SQLState.duplicateTable].contains(error.sqlState)
        {
            // Another `init` created the schema at the same moment: it has committed; run again.
            return try initialize(migrations: migrations, functions: functions + "\n" + capture, bootstrap: bootstrap)
        }
    }

    private func initialize(migrations: [(version: Int, sql: String)], functions: String, bootstrap: String) throws -> InitResult {
        try connection.transaction {
            try connection.execute(bootstrap)
            // Two concurrent `init`s would race on the migrations; the second waits here. A table
            // lock that needs rights only pgrelay's owner has, not an advisory lock any login can hold.
            try connection.execute("lock table realtime.schema_migrations in share row exclusive mode")
            let applied = Set(try connection.query("select version from realtime.schema_migrations").compactMap { $0[0].flatMap(Int.init) })
            let previous = applied.max() ?? 0
            for migration in migrations where !applied.contains(migration.version) {
                try connection.execute(migration.sql)
                try connection.query("insert into realtime.schema_migrations (version) values ($1)", [String(migration.version)])
            }
            try connection.execute(functions)
            // Versions 3, 5 and 12 capture with other triggers: reinstall every subscription's
            // (0003_ticks.sql dropped version 2's, and with them waited for the writers that used
            // them). Version 12 moves `wake` subscriptions to `auto` (the old default; the two could
            // not be told apart), and a kept condition is installed as it was checked.
            var moved: [TableName] = []
            if previous > 0, previous < 12 {
                for subscription in try subscriptions() {
                    var notify = subscription.notify
                    if notify == .wake {
                        notify = .auto
                        try connection.query("update realtime.subscriptions set notify = 'auto' where channel = $1", [subscription.channel])
                        moved.append(subscription.table)
                    }
                    guard subscription.trigger.tableExists else { continue }
                    let condition = try subscription.condition.map {
                        try checked(
                            try SubscriptionCondition($0), on: subscription.table,
                            relid: try connection.query(
                                "select to_regclass($1)::oid", [subscription.table.quoted]
                            ).first?[0] ?? "0", requireOwner: false
                        ).compiled
                    }
                    if condition != nil { try connection.query("set local search_path = pg_catalog, pg_temp") }
                    try installTriggers(
                        subscription.table, channel: subscription.channel, events: subscription.events, notify: notify,
                        formerlyNamed: try subscribedName(channel: subscription.channel), condition: condition
                    )
                    if condition != nil { try connection.query("set local search_path to default") }
                }
            }
            return InitResult(previousVersion: previous, version: migrations.map(\.version).max() ?? 0, movedToAuto: moved)
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

    /// Fails with "run pgrelay init" unless the schema is installed at `version` or later: for
    /// commands that need a newer schema than an older pgrelay installed.
    public func requireSchema(atLeast version: Int, for feature: String) throws {
        try requireInitialized()
        let found = try schemaVersion()
        guard found >= version else {
            throw PostgresError(
                .notInitialized,
                "\(feature) needs pgrelay schema version \(version); database \"\(connection.databaseName)\" has version \(found); run pgrelay init to upgrade it"
            )
        }
    }

    /// The schema version this pgrelay installs: its newest migration's.
    public static func currentVersion() throws -> Int { try TriggerSQL.migrations().map(\.version).max() ?? 0 }

    /// The schema version that named channels' messages need (0007_messages.sql).
    public static let messagesVersion = 7
    /// The schema version that ephemeral events need (0008_ephemeral.sql).
    public static let ephemeralVersion = 8
    /// The schema version that presence needs (0009_presence.sql).
    public static let presenceVersion = 9
    /// The schema version of `auto` notify mode, capture without a SET clause and pgrelay's own
    /// locks (0012_write_path.sql).
    public static let writePathVersion = 12

    /// Installs the capture triggers on `table` for `events`, or changes the events and notify mode
    /// of an existing subscription. The table's existing rows are not replayed; changes from now on
    /// are captured.
    ///
    /// A subscription follows its table (its oid): a table renamed since it was subscribed keeps
    /// its subscription and channel. Refused, with what to do instead: pgrelay's own tables, system
    /// catalogs, temporary tables, views and the like, a partition of a subscribed table (its rows
    /// already stream as the parent's) and a parent of a partition subscribed on its own.
    /// - Parameter notify: nil keeps the mode of a subscribed table (`wake` for a new one), so that
    ///   changing the events never changes what writers pay unasked.
    /// - Parameter condition: `.keep` keeps a subscribed table's condition (none for a new one);
    ///   `.set` checks one with Postgres and installs it (only the table's owner may: it runs in
    ///   every writer's transaction); `.remove` drops it.
    @discardableResult
    public func subscribe(
        _ table: TableName, events: EventSet = .default, notify requested: NotifyMode? = nil, condition requestedCondition: ConditionChange = .keep
    ) throws -> Subscription {
        try requireInitialized()
        let relid = try subscribableTable(table)
        if case .set = requestedCondition { try requireSchema(atLeast: Self.operationsVersion, for: "a subscription condition") }
        try connection.transaction {
            // Concurrent subscribes would race on channels; the second waits here (a lock only
            // pgrelay's owner can take: see initialize()).
            try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
            try refuseOverlappingPartitions(table, relid: relid)
            let hasConditions = try schemaVersion() >= Self.operationsVersion
            let existing = try connection.query(
                "select notify, channel, \(hasConditions ? "condition" : "null") from realtime.subscriptions where relid = $1", [relid]
            ).first
            let notify = try requested ?? (existing?[0] ?? nil).map(NotifyMode.init(parsing:)) ?? .default
            let channel = try (existing?[1] ?? nil) ?? channelForNewSubscription(table, relid: relid)
            let condition: CheckedCondition?
            switch requestedCondition {
            // A kept condition is checked again: its compiled form follows the table's columns.
            case .keep: condition = try (existing?[2] ?? nil).map { try checked(try SubscriptionCondition($0), on: table, relid: relid) }
            case .remove: condition = nil
            case .set(let given): condition = try checked(given, on: table, relid: relid)
            }
            // A subscription whose table was dropped, under this name: retired, its channel kept from reuse.
            for dead in try connection.query(
                """
                select channel, schema_name, table_name from realtime.subscriptions s
                 where (schema_name, table_name) = ($1, $2) and not exists (select from pg_class c where c.oid = s.relid)
                """,
                [table.schema, table.name]
            ) {
                try retire(channel: dead[0] ?? "", relid: nil, currentName: nil, subscribedAs: TableName(schema: dead[1] ?? "", name: dead[2] ?? ""))
            }
            // Unqualified names in the condition are pg_catalog's, as when it was checked.
            if condition != nil { try connection.query("set local search_path = pg_catalog, pg_temp") }
            try installTriggers(table, channel: channel, events: events, notify: notify, formerlyNamed: table, condition: condition?.compiled)
            try connection.query(
                """
                insert into realtime.subscriptions (schema_name, table_name, channel, events, notify, relid)
                values ($1, $2, $3, $4::text[], $5, $6)
                on conflict (channel)
                do update set schema_name = excluded.schema_name, table_name = excluded.table_name,
                              events = excluded.events, notify = excluded.notify, relid = excluded.relid
                """,
                [table.schema, table.name, channel, "{" + events.sorted.map(\.rawValue).joined(separator: ",") + "}", notify.rawValue, relid]
            )
            if hasConditions {
                try connection.query("update realtime.subscriptions set condition = $2 where channel = $1", [channel, condition?.shown.text])
            }
            try connection.query("delete from realtime.retired_channels where channel = $1", [channel])
            try connection.query("select pg_notify($1, $2)", [ChannelName.subscriptionsChanged, "subscribe " + channel])
        }
        guard let subscription = try subscriptions().first(where: { $0.table == table }) else {
            throw PostgresError(.invalidData, "subscription of \(table) not found after subscribing")
        }
        return subscription
    }

    /// The oid of `table` when it may be subscribed; otherwise an error that says why.
    private func subscribableTable(_ table: TableName) throws -> String {
        if table.schema == "realtime" {
            throw PostgresError(.unknownTable, "\(table) is one of pgrelay's own tables (schema realtime); they cannot be subscribed")
        }
        if ["pg_catalog", "information_schema", "pg_toast"].contains(table.schema) {
            throw PostgresError(.unknownTable, "\(table) is a system catalog; only user tables can be subscribed")
        }
        let row = try connection.query(
            """
            select c.oid, c.relkind, c.relpersistence, has_table_privilege(c.oid, 'TRIGGER')
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = $1 and c.relname = $2
            """,
            [table.schema, table.name]
        ).first
        guard let row, let relid = row[0], let kind = row[1] else {
            throw PostgresError(.unknownTable, "table \(table) does not exist in database \"\(connection.databaseName)\"")
        }
        guard kind == "r" || kind == "p" else {
            throw PostgresError(.unknownTable, "\(table) is not a table (relkind '\(kind)'); only tables can be subscribed")
        }
        if row[2] == "t" {
            throw PostgresError(
                .unknownTable, "\(table) is a temporary table: its rows vanish with the session that made it; subscribe a permanent table"
            )
        }
        // Said before anything is locked: creating capture triggers needs this right on the table.
        if row[3] != "t" {
            throw PostgresError(
                .query, "permission denied for table \(table.name): subscribing needs the TRIGGER privilege on \(table) (or its ownership)",
                sqlState: SQLState.insufficientPrivilege
            )
        }
        return relid
    }

    /// Refuses a partition of a subscribed table, and a table with a partition subscribed on its own:
    /// either would capture the same change twice.
    private func refuseOverlappingPartitions(_ table: TableName, relid: String) throws {
        // One query for both directions: a subscribed ancestor (the table is one of its
        // partitions) or a subscribed descendant (one of the table's partitions).
        let overlap = try connection.query(
            """
            select o.ancestor, n.nspname, c.relname
              from (select true as ancestor, relid from pg_partition_ancestors($1::oid)
                    union all
                    select false, relid from pg_partition_tree($1::oid)) o
              join realtime.subscriptions s on s.relid = o.relid
              join pg_class c on c.oid = o.relid join pg_namespace n on n.oid = c.relnamespace
             where o.relid <> $1::oid
             order by o.ancestor desc limit 1
            """,
            [relid]
        ).first
        guard let overlap else { return }
        let other = TableName(schema: overlap[1] ?? "", name: overlap[2] ?? "")
        if overlap[0] == "t" {
            throw PostgresError(.unknownTable, "\(table) is a partition of \(other), which is subscribed: its changes already stream as \(other)'s")
        }
        throw PostgresError(.unknownTable, "partition \(other) of \(table) is subscribed on its own; run pgrelay unsubscribe \(other) first")
    }

    /// The channel of a table subscribed for the first time: its own retired channel when it was
    /// subscribed before, else the natural one unless another table's rows carry it.
    private func channelForNewSubscription(_ table: TableName, relid: String) throws -> String {
        if let own = try connection.query("select channel from realtime.retired_channels where relid = $1 order by retired_at desc limit 1", [relid])
            .first?[0] ?? nil
        {
            return own
        }
        let natural = ChannelName.forTable(table)
        let taken =
            try connection.query(
                """
                select exists (select from realtime.subscriptions where channel = $1)
                    or exists (select from realtime.retired_channels where channel = $1)
                """,
                [natural]
            ).first?[0] == "t"
        return taken ? ChannelName.forTable(table, salt: relid) : natural
    }

    /// What `subscribe` does with a table's condition.
    public enum ConditionChange: Sendable {
        case keep
        case set(SubscriptionCondition)
        case remove
    }

    /// The schema version that subscription ids, conditions and the relays' connections need (0011_operations.sql).
    public static let operationsVersion = 11

    /// The installed schema version (0 when none).
    public func schemaVersion() throws -> Int {
        Int(try connection.query("select coalesce(max(version), 0) from realtime.schema_migrations").first?[0] ?? "0") ?? 0
    }

    /// A condition as Postgres rendered it: `shown` for people (`(post_id = '123'::text)`), and
    /// `qualified`, each column as `pgrelay_row.<column>`, compiled into the capture functions.
    struct CheckedCondition {
        var shown: SubscriptionCondition
        var compiled: CompiledCondition
    }

    /// Checks a condition as Postgres would a predicate of an index on an empty copy of `table`
    /// (no subqueries, aggregates or window functions; immutable functions only; a boolean), with
    /// the search path set to pg_catalog, and returns Postgres' own renderings of it (the second
    /// from a view over the copy, which qualifies every column). Only the table's owner may set
    /// one: it runs in every writer's transaction. Inside the caller's transaction.
    /// - Parameter requireOwner: false when `init` reinstalls a condition its table's owner set.
    private func checked(_ condition: SubscriptionCondition, on table: TableName, relid: String, requireOwner: Bool = true) throws -> CheckedCondition
    {
        let owner = try connection.query(
            "select pg_has_role(current_user, c.relowner, 'MEMBER'), pg_get_userbyid(c.relowner) from pg_class c where c.oid = $1::oid", [relid]
        ).first
        guard owner?[0] == "t" || !requireOwner else {
            throw PostgresError(
                .query,
                "only the owner of \(table) (role \(owner?[1] ?? "?")) may set its condition: a condition runs inside every writer's transaction"
            )
        }
        try connection.execute("savepoint pgrelay_condition")
        do {
            try connection.query("set local search_path = pg_catalog, pg_temp")
            try connection.query("create temp table pgrelay_condition_probe (like \(table.quoted))")
            try connection.query(
                "create index pgrelay_condition_probe_index on pg_temp.pgrelay_condition_probe ((true)) where \(SQLQuoting.condition(condition))")
            let shown =
                try connection.query(
                    "select pg_get_expr(i.indpred, i.indrelid) from pg_index i where i.indexrelid = 'pg_temp.pgrelay_condition_probe_index'::regclass"
                ).first?[0] ?? nil
            // Each column qualified by the row's name, as a view's definition renders it:
            // " SELECT <expression> AS pgrelay_keep\n   FROM pgrelay_condition_probe <alias>;"
            func rendered(over alias: String) throws -> SubscriptionCondition {
                let view = "pgrelay_condition_" + alias
                try connection.query(
                    "create temp view \(view) as select \(SQLQuoting.condition(condition)) as pgrelay_keep from pg_temp.pgrelay_condition_probe as \(alias)"
                )
                let definition = try connection.query("select pg_get_viewdef($1::regclass)", ["pg_temp." + view]).first?[0] ?? nil
                guard let definition, let select = definition.range(of: "SELECT "),
                    let end = definition.range(of: " AS pgrelay_keep", options: .backwards), select.upperBound <= end.lowerBound
                else {
                    throw PostgresError(.invalidData, "Postgres did not render the condition of \(table)")
                }
                return try SubscriptionCondition(String(definition[select.upperBound..<end.lowerBound]))
            }
            // Postgres will not render a row named new or old (it names them new_1): renamed here, outside literals.
            let row = try rendered(over: "pgrelay_row")
            let compiled = CompiledCondition(
                row: row, new: try row.renamingRow("pgrelay_row", to: "new"), old: try row.renamingRow("pgrelay_row", to: "old"))
            try connection.execute("rollback to savepoint pgrelay_condition")
            guard let shown else { throw PostgresError(.invalidData, "Postgres did not render the condition of \(table)") }
            return CheckedCondition(shown: try SubscriptionCondition(shown), compiled: compiled)
        } catch let error as PostgresError {
            _ = try? connection.execute("rollback to savepoint pgrelay_condition")
            var message = error.message.replacingOccurrences(of: "index predicate", with: "subscription condition")
                .replacingOccurrences(of: "index expressions and predicates", with: "subscription conditions")
            if message.hasPrefix("ERROR:") { message = message.dropFirst(6).trimmingCharacters(in: .whitespaces) }
            throw PostgresError(
                .query,
                "condition \"\(condition)\" refused by Postgres: \(message.split(separator: "\n").first ?? "")"
                    + " (a condition is a boolean expression over the columns of \(table); no subqueries, immutable functions only)",
                sqlState: error.sqlState
            )
        }
    }

    /// Replaces the capture triggers of `table` with those for `events` and `notify`, inside the caller's transaction.
    private func installTriggers(
        _ table: TableName, channel: String, events: EventSet, notify: NotifyMode, formerlyNamed: TableName, condition: CompiledCondition? = nil
    ) throws {
        let unsubscribe = TriggerTemplate(try TriggerSQL.file("unsubscribe.sql"))
            .renderUnsubscribe(table: table, channel: channel, formerlyNamed: formerlyNamed)
        let subscribe = TriggerTemplate(try TriggerSQL.file("subscribe.sql"))
            .renderSubscribe(table: table, channel: channel, events: events, notify: notify, key: try keyColumns(of: table), condition: condition)
        try connection.execute(unsubscribe)
        try connection.execute(subscribe)
    }
}
