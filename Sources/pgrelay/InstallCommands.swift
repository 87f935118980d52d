import ArgumentParser
import PGRelayCore
import PGRelayPostgres

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Install or upgrade the realtime schema (idempotent)."
    )
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                let result = try SchemaMigration(connection: db).initialize()
                if result.previousVersion == 0 {
                    emit("installed pgrelay schema version \(result.version) in database \"\(db.databaseName)\"")
                } else if result.previousVersion < result.version {
                    emit("upgraded pgrelay schema from version \(result.previousVersion) to \(result.version) in database \"\(db.databaseName)\"")
                } else {
                    emit("pgrelay schema version \(result.version) is up to date in database \"\(db.databaseName)\"; trigger functions refreshed")
                }
                if !result.movedToAuto.isEmpty {
                    emit(
                        "moved \(result.movedToAuto.count) subscription(s) from notify wake to auto (the new default: a NOTIFY only while every relay sleeps): "
                            + result.movedToAuto.map(\.description).joined(separator: ", ")
                            + "; pgrelay subscribe TABLE --notify wake puts one back"
                    )
                }
            }
        }
    }
}

struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Capture a table's changes: install its triggers (run again to change its events, notify mode or condition).",
        discussion: """
            CONDITION is a boolean SQL expression over the table's columns, e.g. "post_id = '123'": rows
            that do not match are never logged. Postgres checks it now, as an index predicate (no
            subqueries, immutable functions only); only the table's owner may set one, since it runs
            inside every writer's transaction. An UPDATE is logged when its old or its new row matches,
            so readers see a row leave or enter the condition. Without CONDITION a subscribed table
            keeps its condition; --no-condition removes it.

            --capture wal captures the table from the WAL instead of triggers: its writers pay no
            trigger, and one relay reads a logical replication slot (pgoutput) and appends the
            changes to the same log, with the same ids and events. It needs wal_level = logical, a
            role with REPLICATION, ownership of the table, and REPLICA IDENTITY FULL for tables with
            TOASTable columns; subscribe says what is missing. Running subscribe again with the
            other --capture switches the table without a gap or a duplicate in its stream.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The table: orders, public.orders, or \"My Schema\".\"My Table\".") var table: String
    @Argument(help: "Comma-separated: INSERT,UPDATE,DELETE,TRUNCATE (default INSERT,UPDATE,DELETE).") var events: String?
    @Argument(help: "A boolean SQL expression over the table's columns; only matching rows are logged.") var condition: String?
    @Option(
        help:
            "auto (one empty NOTIFY per transaction, only while every relay sleeps; the default), wake (one per transaction, always), payload (one NOTIFY per change, for raw LISTENers) or off (none; the relay polls). Without it a subscribed table keeps its mode."
    )
    var notify: String?
    @Flag(name: .customLong("no-condition"), help: "Remove the table's condition: every row is logged again.") var noCondition = false
    @Option(
        help:
            "trigger (capture triggers, in the writer's transaction; the default) or wal (a relay reads the WAL). Without it a subscribed table keeps its capture."
    )
    var capture: String?
    @Flag(
        name: .customLong("any-login-reads-payloads"),
        help:
            "With --notify payload: accept that any role that can log in can LISTEN on the table's channel and read every row, whatever its rights on the table."
    )
    var anyLoginReadsPayloads = false

    func run() async throws {
        try await reportingErrors {
            let name = try TableName(parsing: table)
            let eventSet = try events.map(EventSet.init(parsing:)) ?? .default
            let mode = try notify.map(NotifyMode.init(parsing:))
            // LISTEN needs no privilege in Postgres: a payload NOTIFY hands each row to every login.
            if mode == .payload, !anyLoginReadsPayloads {
                throw ValidationError(
                    "--notify payload puts every row of \(name) in a NOTIFY that any role able to log in can LISTEN to, whatever its rights on the table (LISTEN has no privileges); pass --any-login-reads-payloads too if that is acceptable, or keep --notify auto (relays read rows from the log, which needs rights)"
                )
            }
            if noCondition, condition != nil { throw ValidationError("give a CONDITION or --no-condition, not both") }
            let change: Installer.ConditionChange = try noCondition ? .remove : condition.map { .set(try SubscriptionCondition($0)) } ?? .keep
            let kind = try capture.map(CaptureKind.init(parsing:))
            let subscription = try await connection.run {
                try Installer(connection: $0).subscribe(name, events: eventSet, notify: mode, condition: change, capture: kind)
            }
            let how = subscription.capture == .wal ? "captured from the WAL" : "notify \(subscription.notify)"
            emit(
                "subscribed \(subscription.table) (\(subscription.events), \(how)\(subscription.condition.map { ", where \($0)" } ?? ""))"
                    + " on channel \(subscription.channel)"
            )
        }
    }
}

struct UnsubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unsubscribe",
        abstract: "Stop capturing a table's changes: remove its triggers. The log stays."
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The table, or the subscription's ID as pgrelay subscriptions shows it.") var table: String

    func run() async throws {
        try await reportingErrors {
            let name = try await connection.run { [table] db in
                let installer = Installer(connection: db)
                let name: TableName
                if let id = Int64(table) {
                    guard let found = try installer.subscriptions().first(where: { $0.id == id }) else {
                        throw ValidationError("no subscription has ID \(id); pgrelay subscriptions lists them")
                    }
                    name = found.table
                } else {
                    name = try TableName(parsing: table)
                }
                try installer.unsubscribe(name)
                return name
            }
            emit("unsubscribed \(name); its changes stay in the log until pgrelay cleanup")
        }
    }
}
