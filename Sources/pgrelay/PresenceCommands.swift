import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

/// `pgrelay presence ...`: who is on which channel, as users of nself realtime know it.
struct PresenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presence",
        abstract: "Track, show, count and clean up presence on channels.",
        subcommands: [Track.self, Get.self, Online.self, Count.self, Offline.self, Stats.self, Cleanup.self]
    )

    /// Runs `body` with the presence of a database whose schema has presence, on the database's thread.
    static func withStore<T: Sendable>(_ connection: ConnectionOptions, _ body: @escaping @Sendable (PresenceStore) throws -> T) async throws -> T {
        try await connection.run { db in
            try SchemaMigration(connection: db).requireSchema(atLeast: SchemaMigration.presenceVersion, for: "presence")
            return try body(PresenceStore(connection: db))
        }
    }

    struct Track: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark a user present on a channel with a status and metadata, until presence offline.",
            discussion: "Relays' subscribers see it join (or its status change). It does not expire: no client holds it."
        )
        @OptionGroup var connection: ConnectionOptions
        @Argument var user: String
        @Argument var channel: String
        @Argument(help: "online (the default), away, busy, offline, or your own.") var status = "online"
        @Argument(help: #"Metadata, a JSON object: '{"device":"phone"}'."#) var metadata = "{}"

        func run() async throws {
            try await reportingErrors {
                let meta: JSONValue
                do { meta = try JSONValue(parsing: metadata) } catch {
                    throw ChannelError(description: "metadata must be a JSON object such as '{\"device\":\"phone\"}': \(error)")
                }
                try await PresenceCommand.withStore(connection) { store in
                    try ChannelStore(connection: store.connection).requireKnown(channel, orPresent: true)
                    try store.track(channel: channel, user: user, relay: PresenceStore.cliRelay, connection: "cli", status: status, meta: meta)
                }
                emit("\(user) is \(status) on channel \(channel)")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user's presence: on one channel, or on every channel it was seen on.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var user: String
        @Argument var channel: String?
        @Flag(help: "One JSON array.") var json = false

        func run() async throws {
            try await reportingErrors {
                let found = try await PresenceCommand.withStore(connection) { try $0.presences(channel: channel, user: user) }
                if json { return emit(JSONValue.array(found.map(\.json)).jsonText) }
                guard !found.isEmpty else {
                    throw ChannelError(
                        description:
                            "\(user) has no presence\(channel.map { " on channel \($0)" } ?? ""); it was never tracked, or presence cleanup removed it"
                    )
                }
                for presence in found {
                    let meta = presence.meta == .object([]) ? "" : "  \(presence.meta.jsonText)"
                    if presence.online {
                        emit(
                            "\(presence.user) on \(presence.channel): \(presence.status) (\(presence.connections) connection\(presence.connections == 1 ? "" : "s"))\(meta)"
                        )
                    } else {
                        emit(
                            "\(presence.user) on \(presence.channel): offline, last seen \(presence.lastSeen) (last status \(presence.status))\(meta)"
                        )
                    }
                }
            }
        }
    }

    struct Online: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users online, on one channel or on every channel.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var channel: String?
        @Flag(help: "One JSON array.") var json = false

        func run() async throws {
            try await reportingErrors {
                let online = try await PresenceCommand.withStore(connection) { try $0.presences(channel: channel, onlineOnly: true) }
                if json { return emit(JSONValue.array(online.map(\.json)).jsonText) }
                guard !online.isEmpty else { return emit("nobody is online\(channel.map { " on channel \($0)" } ?? "")") }
                emit(
                    TextTable(
                        header: ["CHANNEL", "USER", "STATUS", "CONNECTIONS", "META"],
                        rows: online.map { [$0.channel, $0.user, $0.status, String($0.connections), $0.meta.jsonText] }
                    ).rendered)
            }
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count the users online, on one channel or on every channel (a user on two channels counts once).")
        @OptionGroup var connection: ConnectionOptions
        @Argument var channel: String?

        func run() async throws {
            try await reportingErrors {
                let online = try await PresenceCommand.withStore(connection) { try $0.presences(channel: channel, onlineOnly: true) }
                emit(String(Set(online.map(\.user)).count))
            }
        }
    }

    struct Offline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a user offline on one channel or on every channel: all its connections leave.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var user: String
        @Argument var channel: String?

        func run() async throws {
            try await reportingErrors {
                let channels = try await PresenceCommand.withStore(connection) { try $0.offline(user: user, channel: channel) }
                guard !channels.isEmpty else {
                    throw ChannelError(description: "\(user) is not online\(channel.map { " on channel \($0)" } ?? "")")
                }
                emit("\(user) is offline on \(channels.count == 1 ? "channel" : "channels") \(channels.joined(separator: ", "))")
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Presence figures: users online and offline, connections, channels, relays.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "One JSON object.") var json = false

        func run() async throws {
            try await reportingErrors {
                let stats = try await PresenceCommand.withStore(connection) { try $0.statistics() }
                if json {
                    return emit(
                        JSONValue.object([
                            ("online", .number(String(stats.online))), ("offline", .number(String(stats.offline))),
                            ("connections", .number(String(stats.connections))), ("channels", .number(String(stats.channels))),
                            ("relays", .number(String(stats.relays))),
                        ]).jsonText)
                }
                emit(
                    """
                    online       \(stats.online) (users on channels)
                    offline      \(stats.offline) (last status kept until presence cleanup)
                    connections  \(stats.connections)
                    channels     \(stats.channels) with someone online
                    relays       \(stats.relays) beating
                    """
                )
            }
        }
    }

    struct Cleanup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget users offline for longer than --timeout (default 24h), and end the presences of relays that stopped."
        )
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "An age: 90m, 24h, 7d (units s, m, h, d, w).") var timeout = "24h"

        func run() async throws {
            try await reportingErrors {
                let age = try RetentionAge(parsing: timeout)
                let removed = try await PresenceCommand.withStore(connection) { try $0.cleanup(offlineForSeconds: age.seconds) }
                emit("removed \(removed) presence\(removed == 1 ? "" : "s") offline for more than \(timeout)")
            }
        }
    }
}
