import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

/// `pgrelay stats`: what is flowing. Connections across every live relay, channels, the changes and
/// messages of each table and channel within the window, online users, the log on disk.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Connections, channels, changes and messages per table and channel in a window, online users, log size and oldest id kept."
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "One JSON object.") var json = false
    @Option(help: "The window, in hours (default 24).") var hours: Double = 24

    func validate() throws {
        guard hours > 0, hours <= 24 * 366 else { throw ValidationError("--hours is a number of hours above 0, at most a year, e.g. 1 or 24") }
    }

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                let installer = Installer(connection: db)
                try installer.schema.requireSchema(atLeast: SchemaMigration.operationsVersion, for: "pgrelay stats")
                try Ticker(connection: db).tick()
                let log = ChangeLog(connection: db)
                let statistics = try log.statistics()
                let counts = try log.counts(withinSeconds: hours * 3600)
                let subscriptions = try installer.subscriptions()
                let tables = subscriptions.map { (name: $0.table.description, count: counts[$0.channel] ?? 0) }.sorted {
                    ($1.count, $0.name) < ($0.count, $1.name)
                }
                let prefix = ChannelName.forMessages("")
                let channels = counts.filter { $0.key.hasPrefix(prefix) }.map { (name: String($0.key.dropFirst(prefix.count)), count: $0.value) }
                    .sorted { ($1.count, $0.name) < ($0.count, $1.name) }
                let relays = try RelayDirectory(connection: db).relays().filter { !$0.gone }
                let connections = relays.map(\.connections).reduce(0, +)
                let created = try ChannelStore(connection: db).list().count
                let presence = try PresenceStore(connection: db).statistics()
                let oldestKept = try log.retainedAfter() + 1
                let window = String(format: "%g", hours)
                if json {
                    emit(
                        JSONValue.object([
                            ("hours", .number(window)),
                            ("live_relays", .number(String(relays.count))),
                            ("connections", .number(String(connections))),
                            ("channels", .number(String(created))),
                            ("active_channels", .number(String(channels.count))),
                            ("online_users", .number(String(presence.online))),
                            ("changes", .number(String(tables.map(\.count).reduce(0, +)))),
                            ("messages", .number(String(channels.map(\.count).reduce(0, +)))),
                            ("tables", .array(tables.map { .object([("table", .string($0.name)), ("changes", .number(String($0.count)))]) })),
                            (
                                "channel_messages",
                                .array(channels.map { .object([("channel", .string($0.name)), ("messages", .number(String($0.count)))]) })
                            ),
                            ("log_bytes", .number(String(statistics.bytes))),
                            ("newest_id", .number(String(statistics.newestID))),
                            ("oldest_id_kept", .number(String(oldestKept))),
                        ]).jsonText)
                    return
                }
                emit(
                    TextTable(
                        header: ["window", "last \(window) h"],
                        rows: [
                            ["relays", "\(relays.count) live"],
                            ["connections", String(connections)],
                            ["channels", "\(created) created, \(channels.count) with messages in the window"],
                            ["online users", String(presence.online)],
                            ["changes", String(tables.map(\.count).reduce(0, +))],
                            ["messages", String(channels.map(\.count).reduce(0, +))],
                            ["log on disk", StatusCommand.bytes(statistics.bytes)],
                            ["ids kept", "\(oldestKept) .. \(statistics.newestID)"],
                        ]
                    ).rendered)
                if !tables.isEmpty {
                    emit("")
                    emit(TextTable(header: ["TABLE", "CHANGES"], rows: tables.map { [$0.name, String($0.count)] }).rendered)
                }
                if !channels.isEmpty {
                    emit("")
                    emit(TextTable(header: ["CHANNEL", "MESSAGES"], rows: channels.map { [$0.name, String($0.count)] }).rendered)
                }
            }
        }
    }
}
