import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

/// `pgrelay connections`: every relay's client connections, as each published them at its last
/// heartbeat (a few seconds old at most).
struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "Client connections of every relay instance: user, transport, address, subscriptions and channels."
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "One JSON array.") var json = false
    @Option(help: "Only this user's connections.") var user: String?
    @Option(help: "Only connections reading this channel.") var channel: String?

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                try SchemaMigration(connection: db).requireSchema(atLeast: SchemaMigration.operationsVersion, for: "pgrelay connections")
                let listed = try RelayDirectory(connection: db).connections(user: user, channel: channel)
                if json {
                    emit(
                        JSONValue.array(
                            listed.map { item in
                                let c = item.connection
                                return .object([
                                    ("id", .string(c.id)), ("relay", .string(item.relay)), ("relay_state", .string(item.relayGone ? "gone" : "live")),
                                    ("user", c.user.map(JSONValue.string) ?? .null), ("transport", .string(c.transport.rawValue)),
                                    ("remote", .string(c.remote)),
                                    ("user_agent", .string(c.userAgent)), ("subscriptions", .array(c.subscriptions.map(JSONValue.string))),
                                    ("channels", .array(c.channels.map(JSONValue.string))),
                                    ("connected_at", .string(RelayConnection.timestamp(c.connectedAt))),
                                    ("last_seen", .string(RelayConnection.timestamp(c.lastSeen))),
                                ])
                            }
                        ).jsonText)
                    return
                }
                if listed.isEmpty {
                    emit("no connections" + (user.map { " of user \($0)" } ?? "") + (channel.map { " on channel \($0)" } ?? ""))
                    return
                }
                let now = Date()
                emit(
                    TextTable(
                        header: ["RELAY", "ID", "USER", "TRANSPORT", "REMOTE", "USER AGENT", "TABLES", "CHANNELS", "CONNECTED", "LAST SEEN"],
                        rows: listed.map { item in
                            let c = item.connection
                            return [
                                StatusCommand.short(item.relay) + (item.relayGone ? " (gone)" : ""), StatusCommand.short(c.id), c.user ?? "-",
                                c.transport.rawValue,
                                c.remote, c.userAgent.isEmpty ? "-" : String(c.userAgent.prefix(40)),
                                c.subscriptions.isEmpty ? "-" : c.subscriptions.joined(separator: ","),
                                c.channels.isEmpty ? "-" : c.channels.joined(separator: ","), RelayConnection.timestamp(c.connectedAt),
                                "\(StatusCommand.seconds(max(0, now.timeIntervalSince(c.lastSeen)))) ago",
                            ]
                        }
                    ).rendered)
            }
        }
    }
}
