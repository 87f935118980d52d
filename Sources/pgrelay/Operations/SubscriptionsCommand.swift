import ArgumentParser
import PGRelayCore
import PGRelayPostgres

struct SubscriptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "List subscribed tables: ID, events, notify mode, condition, channel, changes in the last hour, created, trigger health."
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "One JSON array.") var json = false

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                let subscriptions = try Installer(connection: db).subscriptions()
                let lastHour = subscriptions.isEmpty ? [:] : try ChangeLog(connection: db).counts(withinSeconds: 3600)
                if json {
                    emit(
                        JSONValue.array(
                            subscriptions.map { s in
                                .object([
                                    ("id", s.id.map { .number(String($0)) } ?? .null),
                                    ("schema", .string(s.table.schema)), ("table", .string(s.table.name)), ("channel", .string(s.channel)),
                                    ("events", .array(s.events.sorted.map { .string($0.rawValue) })), ("notify", .string(s.notify.rawValue)),
                                    ("capture", .string(s.capture.rawValue)),
                                    ("condition", s.condition.map(JSONValue.string) ?? .null),
                                    ("changes_last_hour", .number(String(lastHour[s.channel] ?? 0))),
                                    ("created_at", .string(s.createdAt)),
                                    ("health", .string(s.health)),
                                ])
                            }
                        ).jsonText)
                    return
                }
                if subscriptions.isEmpty {
                    emit("no tables subscribed; run pgrelay subscribe <table>")
                    return
                }
                emit(
                    TextTable(
                        header: ["ID", "TABLE", "EVENTS", "CAPTURE", "NOTIFY", "CONDITION", "CHANNEL", "CHANGES 1H", "CREATED", "HEALTH"],
                        rows: subscriptions.map {
                            [
                                $0.id.map(String.init) ?? "-", $0.table.description, $0.events.description, $0.capture.rawValue,
                                $0.capture == .wal ? "-" : $0.notify.rawValue, $0.condition ?? "-", $0.channel,
                                String(lastHour[$0.channel] ?? 0), $0.createdAt, $0.health,
                            ]
                        }
                    ).rendered)
                if subscriptions.contains(where: { !$0.isHealthy }) { throw ExitCode(2) }
            }
        }
    }
}
