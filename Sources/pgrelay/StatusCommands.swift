import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Schema version, subscriptions, log size, newest id and listener lag."
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "One JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let db = try connection.connect()
            let installer = Installer(connection: db)
            try installer.requireInitialized()
            // Numbers what committed meanwhile, so the figures are current with no relay running.
            try Ticker(connection: db).tick()
            let stats = try ChangeLog(connection: db).statistics()
            let unhealthy = try installer.subscriptions().filter { !$0.isHealthy }
            if json {
                emit(JSONValue.object([
                    ("database", .string(db.databaseName)),
                    ("schema_version", .number(String(stats.schemaVersion))),
                    ("subscriptions", .number(String(stats.subscriptions))),
                    ("unhealthy_subscriptions", .array(unhealthy.map { .string($0.table.description) })),
                    ("log_changes", .number(String(stats.changes))),
                    ("log_bytes", .number(String(stats.bytes))),
                    ("newest_id", .number(String(stats.newestID))),
                    ("oldest_commit", stats.oldestCommit.map(JSONValue.string) ?? .null),
                    ("newest_commit", stats.newestCommit.map(JSONValue.string) ?? .null),
                    ("listeners", .number(String(stats.listeners))),
                    ("notification_queue_usage", .number(String(stats.notificationQueueUsage))),
                ]).jsonText)
                return
            }
            emit(TextTable(header: ["database", db.databaseName], rows: [
                ["schema version", String(stats.schemaVersion)],
                ["subscriptions", "\(stats.subscriptions)" + (unhealthy.isEmpty ? " (all healthy)" : " (\(unhealthy.count) unhealthy: run pgrelay subscriptions)")],
                ["log", "\(stats.changes) changes, \(formatBytes(stats.bytes))"],
                ["committed", stats.oldestCommit.map { "\($0) .. \(stats.newestCommit ?? "")" } ?? "nothing yet"],
                ["newest id", String(stats.newestID)],
                ["listeners", "\(stats.listeners) pgrelay connection\(stats.listeners == 1 ? "" : "s") listening"],
                ["listener lag", String(format: "%.4f%% of Postgres' notification queue unread", stats.notificationQueueUsage * 100)],
            ]).rendered)
        }
    }

    private func formatBytes(_ bytes: Int64) -> String {
        let units = ["bytes", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[unit])
    }
}

struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete changes committed longer ago than --older-than from the log."
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("older-than"), help: "An age: 90m, 24h, 7d (units s, m, h, d, w).") var olderThan: String

    func run() async throws {
        try await reportingErrors {
            let age = try RetentionAge(parsing: olderThan)
            let db = try connection.connect()
            try Installer(connection: db).requireInitialized()
            let deleted = try ChangeLog(connection: db).deleteChanges(olderThanSeconds: age.seconds)
            emit("deleted \(deleted) change\(deleted == 1 ? "" : "s") committed more than \(age) ago")
        }
    }
}
