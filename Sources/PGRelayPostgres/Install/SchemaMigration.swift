import Foundation
import PGRelayCore
import PGRelaySQL

/// The `realtime` schema's version and its upgrades: `pgrelay init`, and the checks of commands
/// that need a schema at least as new as theirs.
public struct SchemaMigration {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// What `init` did.
    public struct Result: Equatable, Sendable {
        /// The schema version found, 0 for a database pgrelay had never seen.
        public var previousVersion: Int
        public var version: Int
        /// Tables whose `wake` subscription this run moved to `auto` (upgrading past version 12).
        public var movedToAuto: [TableName] = []
    }

    /// Installs or upgrades the `realtime` schema: applies each migration not yet applied, in order,
    /// then re-applies the functions (functions.sql, and capture_rows.sql as realtime.capture_rows).
    /// Idempotent; safe to run while writes go on.
    @discardableResult
    public func initialize() throws -> Result {
        let migrations = try TriggerSQL.migrations()
        let functions = try TriggerSQL.file("functions.sql") + "\n" + TriggerTemplate(try TriggerSQL.file("capture_rows.sql")).renderCaptureRows()
        let bootstrap = try TriggerSQL.file("bootstrap.sql")
        do {
            return try initialize(migrations: migrations, functions: functions, bootstrap: bootstrap)
        } catch let error as PostgresError
            where [SQLState.uniqueViolation, SQLState.duplicateSchema, SQLState.duplicateTable].contains(error.sqlState)
        {
            // Another `init` created the schema at the same moment: it has committed; run again.
            return try initialize(migrations: migrations, functions: functions, bootstrap: bootstrap)
        }
    }

    private func initialize(migrations: [(version: Int, sql: String)], functions: String, bootstrap: String) throws -> Result {
        try connection.transaction {
            try connection.execute(bootstrap)
            // Two concurrent `init`s would race on the migrations; the second waits here. A table
            // lock that needs rights only pgrelay's owner has, not an advisory lock any login can hold.
            try connection.execute("lock table realtime.schema_migrations in share row exclusive mode")
            let applied = Set(try connection.query("select version from realtime.schema_migrations").map { try $0.decode("version", as: Int.self) })
            let previous = applied.max() ?? 0
            for migration in migrations where !applied.contains(migration.version) {
                try connection.execute(migration.sql)
                try connection.query("insert into realtime.schema_migrations (version) values (\(migration.version))")
            }
            try connection.execute(functions)
            // Versions 3, 5, 12 and 14 capture with other triggers: reinstall every subscription's
            // (0003_ticks.sql dropped version 2's, and with them waited for the writers that used
            // them). Version 12 moves `wake` subscriptions to `auto` (the old default; the two could
            // not be told apart), and a kept condition is installed as it was checked.
            // Version 14 names the table in each log row as it is then: the per-table UPDATE functions too.
            let reinstall = previous > 0 && previous < Self.schemaEventsVersion
            let moved = reinstall ? try Installer(connection: connection).reinstallAll(movingWakeToAuto: previous < Self.writePathVersion) : []
            return Result(previousVersion: previous, version: migrations.map(\.version).max() ?? 0, movedToAuto: moved)
        }
    }

    /// Fails with "run pgrelay init" unless the `realtime` schema is installed.
    public func requireInitialized() throws {
        let installed = try connection.query("select to_regclass('realtime.subscriptions') is not null as installed")
        guard try installed.first?.decode("installed", as: Bool.self) == true else {
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

    /// The installed schema version (0 when none).
    public func schemaVersion() throws -> Int {
        try connection.query("select coalesce(max(version), 0) as version from realtime.schema_migrations")[0].decode("version")
    }

    /// The schema version this pgrelay installs: its newest migration's.
    public static func currentVersion() throws -> Int { try TriggerSQL.migrations().map(\.version).max() ?? 0 }

    /// The schema version that named channels' messages need (0007_messages.sql).
    public static let messagesVersion = 7
    /// The schema version that ephemeral events need (0008_ephemeral.sql).
    public static let ephemeralVersion = 8
    /// The schema version that presence needs (0009_presence.sql).
    public static let presenceVersion = 9
    /// The schema version that subscription ids, conditions and the relays' connections need (0011_operations.sql).
    public static let operationsVersion = 11
    /// The schema version of `auto` notify mode, capture without a SET clause and pgrelay's own
    /// locks (0012_write_path.sql).
    public static let writePathVersion = 12
    /// The schema version that records the histories of ids (0013_histories.sql).
    public static let historiesVersion = 13
    /// The schema version that logs SCHEMA events (0014_schema_events.sql).
    public static let schemaEventsVersion = 14
    /// The schema version of WAL capture (0015_wal_capture.sql).
    public static let walCaptureVersion = 15
}
