import Foundation
import PGRelayCore
import PGRelaySQL

/// Installs and removes the capture triggers of subscribed tables: `subscribe`, `unsubscribe`,
/// and the list of subscriptions. The schema itself is ``SchemaMigration``'s; what a table looks
/// like, ``Catalog``'s.
public struct Installer {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    public var schema: SchemaMigration { SchemaMigration(connection: connection) }
    public var catalog: Catalog { Catalog(connection: connection) }

    /// Reinstalls every subscription's triggers (the capture functions changed), inside the
    /// caller's transaction; with `movingWakeToAuto`, `wake` subscriptions become `auto` (schema
    /// version 12). Returns the tables moved.
    func reinstallAll(movingWakeToAuto: Bool) throws -> [TableName] {
        var moved: [TableName] = []
        for subscription in try subscriptions() {
            var notify = subscription.notify
            if movingWakeToAuto, notify == .wake {
                notify = .auto
                try connection.query("update realtime.subscriptions set notify = 'auto' where channel = \(subscription.channel)")
                moved.append(subscription.table)
            }
            guard subscription.trigger.tableExists else { continue }
            let condition = try subscription.condition.map {
                let relid = try catalog.tableID(of: subscription.table)
                return try checked(try SubscriptionCondition($0), on: subscription.table, relid: relid, requireOwner: false).compiled
            }
            if condition != nil { try connection.execute("set local search_path = pg_catalog, pg_temp") }
            try installTriggers(
                subscription.table, channel: subscription.channel, events: subscription.events, notify: notify,
                formerlyNamed: try subscribedName(channel: subscription.channel), condition: condition
            )
            if condition != nil { try connection.execute("set local search_path to default") }
        }
        return moved
    }

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
        _ table: TableName, events: EventSet = .default, notify requested: NotifyMode? = nil, condition requestedCondition: ConditionChange = .keep,
        capture requestedCapture: CaptureKind? = nil
    ) throws -> Subscription {
        try schema.requireInitialized()
        let relid = try subscribableTable(table)
        if case .set = requestedCondition { try schema.requireSchema(atLeast: SchemaMigration.operationsVersion, for: "a subscription condition") }
        let hasCapture = try schema.schemaVersion() >= SchemaMigration.walCaptureVersion
        if requestedCapture == .wal { try schema.requireSchema(atLeast: SchemaMigration.walCaptureVersion, for: "WAL capture") }
        let previousCapture =
            hasCapture
            ? try connection.query("select capture from realtime.subscriptions where relid = \(relid)").first.map {
                try CaptureKind(parsing: $0.decode("capture"))
            }
            : nil
        let capture = requestedCapture ?? previousCapture ?? .trigger
        let wal = WALCaptureSetup(connection: connection)
        if capture == .wal {
            try wal.check(table, relid: relid)
            if case .set = requestedCondition {
                throw PostgresError(
                    .query,
                    "a condition with --capture wal is not supported yet: subscribe \(table) with --capture trigger to keep only matching rows")
            }
            try wal.prepare()
        }
        try connection.transaction {
            // Concurrent subscribes would race on channels; the second waits here (a lock only
            // pgrelay's owner can take: see initialize()).
            try connection.execute("lock table realtime.subscriptions in share row exclusive mode")
            try refuseOverlappingPartitions(table, relid: relid)
            let hasConditions = try schema.schemaVersion() >= SchemaMigration.operationsVersion
            let existing = try connection.query(
                """
                select notify, channel, \(unescaped: hasConditions ? "condition" : "null::text as condition")
                  from realtime.subscriptions where relid = \(relid)
                """
            ).first
            let notify = try requested ?? existing.map { try NotifyMode(parsing: $0.decode("notify")) } ?? .default
            let channel = try existing.map { try $0.decode("channel", as: String.self) } ?? channelForNewSubscription(table, relid: relid)
            let condition: CheckedCondition?
            switch requestedCondition {
            // A kept condition is checked again: its compiled form follows the table's columns.
            case .keep:
                condition = try existing?.decode("condition", as: String?.self).map {
                    try checked(try SubscriptionCondition($0), on: table, relid: relid)
                }
            case .remove: condition = nil
            case .set(let given): condition = try checked(given, on: table, relid: relid)
            }
            // A subscription whose table was dropped, under this name: retired, its channel kept from reuse.
            for dead in try connection.query(
                """
                select channel, schema_name, table_name from realtime.subscriptions s
                 where (schema_name, table_name) = (\(table.schema), \(table.name)) and not exists (select from pg_class c where c.oid = s.relid)
                """
            ) {
                let subscribedAs = TableName(schema: try dead.decode("schema_name"), name: try dead.decode("table_name"))
                try retire(channel: try dead.decode("channel"), relid: nil, currentName: nil, subscribedAs: subscribedAs)
            }
            // Unqualified names in the condition are pg_catalog's, as when it was checked.
            if condition != nil { try connection.execute("set local search_path = pg_catalog, pg_temp") }
            switch capture {
            case .trigger:
                try installTriggers(table, channel: channel, events: events, notify: notify, formerlyNamed: table, condition: condition?.compiled)
                if previousCapture == .wal { try wal.unpublish(table) }
            case .wal:
                guard condition == nil else {
                    throw PostgresError(
                        .query, "\(table) has a condition, which --capture wal does not support yet: subscribe it with --no-condition first")
                }
                // Its triggers go and the table joins the publication in one transaction that
                // locks its writers out: each writer's changes are captured one way, exactly.
                try connection.execute(
                    TriggerTemplate(try TriggerSQL.file("unsubscribe.sql")).renderUnsubscribe(table: table, channel: channel, formerlyNamed: table))
                try wal.publish(table)
            }
            try connection.query(
                """
                insert into realtime.subscriptions (schema_name, table_name, channel, events, notify, relid)
                values (\(table.schema), \(table.name), \(channel), \(array: events.sorted.map(\.rawValue))::text[], \(notify.rawValue), \(relid))
                on conflict (channel)
                do update set schema_name = excluded.schema_name, table_name = excluded.table_name,
                              events = excluded.events, notify = excluded.notify, relid = excluded.relid
                """
            )
            if hasConditions {
                try connection.query("update realtime.subscriptions set condition = \(condition?.shown.text) where channel = \(channel)")
            }
            if hasCapture {
                try connection.query("update realtime.subscriptions set capture = \(capture.rawValue) where channel = \(channel)")
            }
            try connection.query("delete from realtime.retired_channels where channel = \(channel)")
            // The shape its SCHEMA events start from (kept when subscribing again: a DDL since,
            // not logged yet, is still told; replaced when the table was dropped and made again).
            // Its catalog token is recorded by the next tick's look (realtime.schema_diffs).
            try connection.query(
                """
                insert into realtime.shapes (channel, shape) values (\(channel), realtime.shape_of(\(relid)))
                on conflict (channel) do update set shape = excluded.shape, token = null where realtime.shapes.shape is null
                """)
            try connection.query("select pg_notify(\(ChannelName.subscriptionsChanged), \("subscribe " + channel))")
        }
        if previousCapture == .wal, capture == .trigger { try wal.retireIfUnused() }
        guard let subscription = try subscriptions().first(where: { $0.table == table }) else {
            throw PostgresError(.invalidData, "subscription of \(table) not found after subscribing")
        }
        return subscription
    }

    /// The oid of `table` when it may be subscribed; otherwise an error that says why.
    private func subscribableTable(_ table: TableName) throws -> UInt32 {
        if table.schema == "realtime" {
            throw PostgresError(.unknownTable, "\(table) is one of pgrelay's own tables (schema realtime); they cannot be subscribed")
        }
        if ["pg_catalog", "information_schema", "pg_toast"].contains(table.schema) {
            throw PostgresError(.unknownTable, "\(table) is a system catalog; only user tables can be subscribed")
        }
        let row = try connection.query(
            """
            select c.oid, c.relkind::text as kind, c.relpersistence = 't' as temporary, has_table_privilege(c.oid, 'TRIGGER') as may_trigger
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = \(table.schema) and c.relname = \(table.name)
            """
        ).first
        guard let row else {
            throw PostgresError(.unknownTable, "table \(table) does not exist in database \"\(connection.databaseName)\"")
        }
        let (relid, kind) = (try row.decode("oid", as: UInt32.self), try row.decode("kind", as: String.self))
        guard kind == "r" || kind == "p" else {
            throw PostgresError(.unknownTable, "\(table) is not a table (relkind '\(kind)'); only tables can be subscribed")
        }
        if try row.decode("temporary", as: Bool.self) {
            throw PostgresError(
                .unknownTable, "\(table) is a temporary table: its rows vanish with the session that made it; subscribe a permanent table"
            )
        }
        // Said before anything is locked: creating capture triggers needs this right on the table.
        if try !row.decode("may_trigger", as: Bool.self) {
            throw PostgresError(
                .query, "permission denied for table \(table.name): subscribing needs the TRIGGER privilege on \(table) (or its ownership)",
                sqlState: SQLState.insufficientPrivilege
            )
        }
        return relid
    }

    /// Refuses a partition of a subscribed table, and a table with a partition subscribed on its own:
    /// either would capture the same change twice.
    private func refuseOverlappingPartitions(_ table: TableName, relid: UInt32) throws {
        // One query for both directions: a subscribed ancestor (the table is one of its
        // partitions) or a subscribed descendant (one of the table's partitions).
        let overlap = try connection.query(
            """
            select o.ancestor, n.nspname, c.relname
              from (select true as ancestor, relid from pg_partition_ancestors(\(relid)::oid)
                    union all
                    select false, relid from pg_partition_tree(\(relid)::oid)) o
              join realtime.subscriptions s on s.relid = o.relid
              join pg_class c on c.oid = o.relid join pg_namespace n on n.oid = c.relnamespace
             where o.relid <> \(relid)::oid
             order by o.ancestor desc limit 1
            """
        ).first
        guard let overlap else { return }
        let other = TableName(schema: try overlap.decode("nspname"), name: try overlap.decode("relname"))
        if try overlap.decode("ancestor", as: Bool.self) {
            throw PostgresError(.unknownTable, "\(table) is a partition of \(other), which is subscribed: its changes already stream as \(other)'s")
        }
        throw PostgresError(.unknownTable, "partition \(other) of \(table) is subscribed on its own; run pgrelay unsubscribe \(other) first")
    }

    /// The channel of a table subscribed for the first time: its own retired channel when it was
    /// subscribed before, else the natural one unless another table's rows carry it.
    private func channelForNewSubscription(_ table: TableName, relid: UInt32) throws -> String {
        let retired = try connection.query("select channel from realtime.retired_channels where relid = \(relid) order by retired_at desc limit 1")
        if let own = retired.first { return try own.decode("channel") }
        let natural = ChannelName.forTable(table)
        let taken = try connection.query(
            """
            select exists (select from realtime.subscriptions where channel = \(natural))
                or exists (select from realtime.retired_channels where channel = \(natural)) as taken
            """
        )[0].decode("taken", as: Bool.self)
        return taken ? ChannelName.forTable(table, salt: String(relid)) : natural
    }

    /// What `subscribe` does with a table's condition.
    public enum ConditionChange: Sendable {
        case keep
        case set(SubscriptionCondition)
        case remove
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
    private func checked(_ condition: SubscriptionCondition, on table: TableName, relid: UInt32, requireOwner: Bool = true) throws -> CheckedCondition
    {
        let owner = try connection.query(
            "select pg_has_role(current_user, c.relowner, 'MEMBER') as member, pg_get_userbyid(c.relowner) as owner from pg_class c where c.oid = \(relid)::oid"
        ).first
        guard try owner?.decode("member", as: Bool.self) == true || !requireOwner else {
            let role = try owner?.decode("owner", as: String.self) ?? "?"
            throw PostgresError(
                .query, "only the owner of \(table) (role \(role)) may set its condition: a condition runs inside every writer's transaction")
        }
        try connection.execute("savepoint pgrelay_condition")
        do {
            try connection.execute("set local search_path = pg_catalog, pg_temp")
            try connection.execute("create temp table pgrelay_condition_probe (like \(table.quoted))")
            try connection.execute(
                "create index pgrelay_condition_probe_index on pg_temp.pgrelay_condition_probe ((true)) where \(SQLQuoting.condition(condition))")
            let shown = try connection.query(
                """
                select pg_get_expr(i.indpred, i.indrelid) as predicate from pg_index i
                 where i.indexrelid = 'pg_temp.pgrelay_condition_probe_index'::regclass
                """
            ).first?.decode("predicate", as: String?.self)
            // Each column qualified by the row's name, as a view's definition renders it:
            // " SELECT <expression> AS pgrelay_keep\n   FROM pgrelay_condition_probe <alias>;"
            func rendered(over alias: String) throws -> SubscriptionCondition {
                let view = "pgrelay_condition_" + alias
                try connection.execute(
                    "create temp view \(view) as select \(SQLQuoting.condition(condition)) as pgrelay_keep from pg_temp.pgrelay_condition_probe as \(alias)"
                )
                let definition = try connection.query("select pg_get_viewdef(\("pg_temp." + view)::regclass) as definition").first?
                    .decode("definition", as: String?.self)
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
        let subscribe = TriggerTemplate(try TriggerSQL.file("subscribe.sql")).renderSubscribe(
            table: table, channel: channel, events: events, notify: notify, key: try catalog.keyColumns(of: table), condition: condition,
            captureRows: TriggerTemplate(try TriggerSQL.file("capture_rows.sql")))
        try connection.execute(unsubscribe)
        try connection.execute(subscribe)
    }
}
