import ArgumentParser
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import Synchronization
import UnixSignals

struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Watch changes and channel messages as they commit (no daemon needed), or raw notifications with --notify-channel.",
        discussion: """
            With no table and no --channel, watches every subscribed table, including ones subscribed
            meanwhile. --channel adds a pgrelay channel's messages (repeatable); with only --channel,
            only those. A --channel name that is no pgrelay channel is watched as a raw NOTIFY
            channel, as --channel did before --notify-channel existed, with a note.
            Stops after --seconds, or on Ctrl-C. Reconnects by itself if the connection drops,
            and shows the changes committed meanwhile: none is skipped or shown twice.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Tables to watch (default: every subscribed table).") var tables: [String] = []
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Flag(help: "One canonical JSON object per line.") var json = false
    @Option(help: "Start after this change id, replaying from the log first.") var since: Int64?
    @Option(
        name: .customLong("notify-channel"),
        help: "Print raw notifications on this NOTIFY channel (repeatable), any channel, exactly as Postgres delivers them."
    )
    var notifyChannels: [String] = []
    @Option(name: .customLong("channel"), help: "Also watch this pgrelay channel's messages (repeatable).") var channels: [String] = []

    func validate() throws {
        if !notifyChannels.isEmpty, !tables.isEmpty || !channels.isEmpty {
            throw ValidationError("give either tables and --channel, or --notify-channel, not both")
        }
        if !notifyChannels.isEmpty, since != nil {
            throw ValidationError("--since replays pgrelay's log; raw --notify-channel notifications have none")
        }
        if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            // The watch, and what ends it (a signal, --seconds), as one group: the first to
            // finish cancels the rest.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    if notifyChannels.isEmpty { try await watchLog() } else { try await watchRaw(notifyChannels) }
                }
                group.addTask { await Signals.first(of: [.sigint, .sigterm]) }
                if let seconds { group.addTask { try await Task.sleep(for: .seconds(seconds)) } }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// Tables and channels from the log; or, when every --channel names no pgrelay channel, those
    /// as raw NOTIFY channels (what `--channel` meant before pgrelay had channels).
    private func watchLog() async throws {
        // Fail here, with the CLI's message, before any thread starts.
        let unknown = try await connection.run { [channels] db in
            let store = ChannelStore(connection: db)
            return channels.filter { (try? store.requireKnown($0)) == nil }
        }
        if !unknown.isEmpty {
            if unknown.count == channels.count, tables.isEmpty, since == nil {
                note(
                    "note: \(unknown.joined(separator: ", ")) \(unknown.count == 1 ? "is" : "are") no pgrelay channel; watching as raw NOTIFY channels (--channel names pgrelay channels now; --notify-channel is for raw ones)"
                )
                return try await watchRaw(unknown)
            }
            try await connection.run { try ChannelStore(connection: $0).requireKnown(unknown[0]) }
        }
        try await watchChanges()
    }

    private func watchChanges() async throws {
        let names = try tables.map(TableName.init(parsing:))
        let onlyChannels = names.isEmpty && !channels.isEmpty
        // Start from the newest change now, before saying so: whatever commits after the line
        // below is shown, even if the listener's own connection takes a moment.
        // Ticking first numbers what committed before now, with or without a relay running.
        let (subscriptions, newest) = try await connection.run { db in
            let installer = Installer(connection: db)
            let subscriptions = onlyChannels ? [] : names.isEmpty ? try installer.subscriptions() : try installer.subscriptions(for: names)
            return (subscriptions, try Ticker(connection: db).tick())
        }
        // A cursor this database never handed out would wait for other changes' ids, or none.
        if let since, since > newest { throw CursorAhead(requested: since, newest: newest) }
        let startAfter = since ?? newest
        let shown = subscriptions.map(\.table.description).joined(separator: ", ")
        let channelList = channels.isEmpty ? "" : "channel\(channels.count == 1 ? "" : "s") \(channels.joined(separator: ", "))"
        if onlyChannels {
            note("listening on \(channelList); Ctrl-C to stop")
        } else {
            let tablesShown =
                names.isEmpty && subscriptions.isEmpty
                ? "tables subscribed from now on (none yet)" : names.isEmpty ? "every subscribed table (\(shown))" : shown
            note("listening on \(tablesShown)\(channelList.isEmpty ? "" : " and \(channelList)"); Ctrl-C to stop")
        }
        // Reconnects are worth a line on stderr; routine connects are not.
        var logger = Logger(label: "pgrelay.listener")
        logger.logLevel = .warning
        let listener = Listener(
            .init(
                conninfo: connection.conninfo, tables: onlyChannels ? .only([]) : names.isEmpty ? .all : .only(names), channels: .only(channels),
                startAfter: startAfter),
            logger: logger
        )
        for try await entry in listener.entries() {
            // An access change (a member removed) is the relays' to apply, not a message to print.
            if case .message(let message) = entry, message.access != nil { continue }
            emit(json ? entry.canonicalJSONText : entry.readableText + "\n")
        }
    }

    private func watchRaw(_ channels: [String]) async throws {
        note("listening on channel\(channels.count == 1 ? "" : "s") \(channels.joined(separator: ", ")); Ctrl-C to stop")
        for try await notification in Listener.rawNotifications(conninfo: connection.conninfo, channels: channels) {
            if json {
                emit(
                    JSONValue.object([
                        ("channel", .string(notification.channel)), ("pid", .number(String(notification.senderPID))),
                        ("payload", .string(notification.payload)),
                    ]).jsonText)
            } else {
                emit("channel \(notification.channel)  pid \(notification.senderPID)\n\(notification.payload)\n")
            }
        }
    }
}

/// The first of some signals, by swift-service-lifecycle's `UnixSignalsSequence` (which ignores
/// their default action while it traps them).
enum Signals {
    /// Returns when one of `signals` arrives, or when the task is cancelled.
    static func first(of signals: [UnixSignal]) async {
        for await _ in await UnixSignalsSequence(trapping: signals) { return }
    }
}
