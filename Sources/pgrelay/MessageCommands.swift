import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

/// `pgrelay send` (also `broadcast`): one message to a channel, written to the log.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a message to a channel: kept in the log, ordered and replayable like a change.",
        discussion: """
            The channel must exist (pgrelay channel create). With SENDER, the channel's rules apply:
            private and direct channels take members only, and members_can_send: false leaves
            sending to moderators and admins. --ephemeral sends an ephemeral event instead: not
            kept in the log, delivered by the relays to the channel's subscribers connected now.
            """,
        aliases: ["broadcast"]
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The channel (room:42).") var channel: String
    @Argument(help: "The event name (chat, typing).") var event: String
    @Argument(help: #"The payload, any JSON value: '{"text":"hi"}'."#) var payload: String
    @Argument(help: "Who sends it: a user id (a token's sub).") var sender: String?
    @Flag(help: "Not kept: delivered only to the subscribers connected now (typing, cursors).") var ephemeral = false

    func run() async throws {
        try await reportingErrors {
            let draft = try MessageDraft(channel: channel, event: event, payloadText: payload, sender: sender)
            try await connection.run { db in
                try ChannelStore(connection: db).send(draft, ephemeral: ephemeral)
                if ephemeral {
                    emit("sent ephemeral \(event) to channel \(channel) (to the subscribers connected now)")
                } else {
                    // Numbered now, with or without a relay running, so that its time is its commit's.
                    _ = try Ticker(connection: db).tick()
                    emit("sent \(event) to channel \(channel)")
                }
            }
        }
    }
}

/// `pgrelay messages CHANNEL [LIMIT] [--before ID]`: the newest messages, newest first.
struct MessagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "messages",
        abstract: "Show a channel's newest messages, newest first; --before pages back."
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The channel.") var channel: String
    @Argument(help: "How many messages (default 50).") var limit: Int = 50
    @Option(help: "Only messages with ids below this one (the last id a page showed).") var before: Int64?
    @Flag(help: "One canonical JSON object per line.") var json = false

    func validate() throws {
        guard (1...10_000).contains(limit) else { throw ValidationError("LIMIT must be from 1 to 10000") }
        if let before, before <= 0 { throw ValidationError("--before must be a positive message id") }
    }

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                try ChannelStore(connection: db).requireKnown(channel)
                _ = try Ticker(connection: db).tick()
                let messages = try ChangeLog(connection: db).messages(on: channel, before: before, limit: limit)
                for message in messages { emit(json ? message.canonicalJSONText : message.readableText + "\n") }
                if messages.isEmpty {
                    note(before == nil ? "no messages on channel \(channel)" : "no messages on channel \(channel) before \(before!)")
                } else if messages.count == limit, let oldest = messages.last {
                    note("\(messages.count) message\(messages.count == 1 ? "" : "s"); older ones with --before \(oldest.id)")
                } else {
                    note("\(messages.count) message\(messages.count == 1 ? "" : "s")")
                }
            }
        }
    }
}

/// `pgrelay events CHANNEL [--hours N]`: which events a channel carries.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Count a channel's messages by event name, with when each was last sent."
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The channel.") var channel: String
    @Option(help: "Only the last N hours (default 24).") var hours: Double = 24
    @Flag(help: "One JSON array.") var json = false

    func validate() throws {
        guard hours > 0, hours <= 24 * 366 * 10 else { throw ValidationError("--hours must be above 0 and at most 87840 (ten years)") }
    }

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                try ChannelStore(connection: db).requireKnown(channel)
                let counts = try ChangeLog(connection: db).events(on: channel, hours: hours)
                let span = hours == hours.rounded() ? String(Int(hours)) : String(hours)
                if json {
                    emit(
                        JSONValue.array(
                            counts.map { count in
                                .object([
                                    ("event", .string(count.event)), ("count", .number(String(count.count))), ("last_sent", .string(count.lastSent)),
                                ])
                            }
                        ).jsonText)
                } else if counts.isEmpty {
                    emit("no messages on channel \(channel) in the last \(span) hours")
                } else {
                    emit(
                        TextTable(header: ["EVENT", "COUNT", "LAST SENT"], rows: counts.map { [$0.event, String($0.count), $0.lastSent] }).rendered)
                }
            }
        }
    }
}
