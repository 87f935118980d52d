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
            let db = try connection.connect()
            let result = try Installer(connection: db).initialize()
            if result.previousVersion == 0 {
                emit("installed pgrelay schema version \(result.version) in database \"\(db.databaseName)\"")
            } else if result.previousVersion < result.version {
                emit("upgraded pgrelay schema from version \(result.previousVersion) to \(result.version) in database \"\(db.databaseName)\"")
            } else {
                emit("pgrelay schema version \(result.version) is up to date in database \"\(db.databaseName)\"; trigger functions refreshed")
            }
        }
    }
}

struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Capture a table's changes: install its triggers (run again to change the events or notify mode)."
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The table: orders, public.orders, or \"My Schema\".\"My Table\".") var table: String
    @Argument(help: "Comma-separated: INSERT,UPDATE,DELETE,TRUNCATE (default INSERT,UPDATE,DELETE).") var events: String?
    @Option(help: "wake (one empty NOTIFY per transaction; the default), payload (one NOTIFY per change, for raw LISTENers) or off (none; the relay polls). Without it a subscribed table keeps its mode.")
    var notify: String?

    func run() async throws {
        try await reportingErrors {
            let name = try TableName(parsing: table)
            let eventSet = try events.map(EventSet.init(parsing:)) ?? .default
            let mode = try notify.map(NotifyMode.init(parsing:))
            let subscription = try Installer(connection: try connection.connect()).subscribe(name, events: eventSet, notify: mode)
            emit("subscribed \(subscription.table) (\(subscription.events), notify \(subscription.notify)) on channel \(subscription.channel)")
        }
    }
}

struct UnsubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unsubscribe",
        abstract: "Stop capturing a table's changes: remove its triggers. The log stays."
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The table.") var table: String

    func run() async throws {
        try await reportingErrors {
            let name = try TableName(parsing: table)
            try Installer(connection: try connection.connect()).unsubscribe(name)
            emit("unsubscribed \(name); its changes stay in the log until pgrelay cleanup")
        }
    }
}

struct SubscriptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "List subscribed tables, their events and the health of their triggers."
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "One JSON array.") var json = false

    func run() async throws {
        try await reportingErrors {
            let subscriptions = try Installer(connection: try connection.connect()).subscriptions()
            if json {
                emit(JSONValue.array(subscriptions.map { s in
                    .object([
                        ("schema", .string(s.table.schema)), ("table", .string(s.table.name)), ("channel", .string(s.channel)),
                        ("events", .array(s.events.sorted.map { .string($0.rawValue) })), ("notify", .string(s.notify.rawValue)),
                        ("created_at", .string(s.createdAt)),
                        ("health", .string(s.health)),
                    ])
                }).jsonText)
                return
            }
            if subscriptions.isEmpty {
                emit("no tables subscribed; run pgrelay subscribe <table>")
                return
            }
            emit(TextTable(
                header: ["TABLE", "EVENTS", "NOTIFY", "CHANNEL", "HEALTH"],
                rows: subscriptions.map { [$0.table.description, $0.events.description, $0.notify.rawValue, $0.channel, $0.health] }
            ).rendered)
            if subscriptions.contains(where: { !$0.isHealthy }) { throw ExitCode(2) }
        }
    }
}
