import ArgumentParser
import Foundation
import Synchronization
import Logging
import PGRelayCore
import PGRelayPostgres

struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Watch changes as they commit (no daemon needed), or raw notifications with --notify-channel.",
        discussion: """
            With no table, watches every subscribed table, including ones subscribed meanwhile.
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
    /// The former spelling of `--notify-channel`: `--channel` is to mean a pgrelay channel.
    @Option(name: .customLong("channel"), help: .hidden) var formerChannels: [String] = []

    /// The raw NOTIFY channels, by either spelling.
    var channels: [String] { notifyChannels + formerChannels }

    func validate() throws {
        if !channels.isEmpty, !tables.isEmpty { throw ValidationError("give either tables or --notify-channel, not both") }
        if !channels.isEmpty, since != nil { throw ValidationError("--since replays pgrelay's log; raw --notify-channel notifications have none") }
        if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            // The watch, and what ends it (a signal, --seconds), as one group: the first to
            // finish cancels the rest.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    if channels.isEmpty { try await watchChanges() } else { try await watchChannels() }
                }
                group.addTask { await Signals.first(of: [SIGINT, SIGTERM]) }
                if let seconds { group.addTask { try await Task.sleep(for: .seconds(seconds)) } }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    private func watchChanges() async throws {
        let names = try tables.map(TableName.init(parsing:))
        // Fail here, with the CLI's message, before any thread starts.
        let db = try connection.connect()
        let installer = Installer(connection: db)
        let subscriptions = names.isEmpty ? try installer.subscriptions() : try installer.subscriptions(for: names)
        // Start from the newest change now, before saying so: whatever commits after the line
        // below is shown, even if the listener's own connection takes a moment.
        // Ticking first numbers what committed before now, with or without a relay running.
        let startAfter = try since ?? Ticker(connection: db).tick()
        let shown = subscriptions.map(\.table.description).joined(separator: ", ")
        note(names.isEmpty && subscriptions.isEmpty
            ? "listening for tables subscribed from now on (none yet); Ctrl-C to stop"
            : "listening on \(names.isEmpty ? "every subscribed table (\(shown))" : shown); Ctrl-C to stop")
        // Reconnects are worth a line on stderr; routine connects are not.
        var logger = Logger(label: "pgrelay.listener")
        logger.logLevel = .warning
        let listener = Listener(
            .init(conninfo: connection.conninfo, tables: names.isEmpty ? .all : .only(names), startAfter: startAfter),
            logger: logger
        )
        for try await event in listener.events() {
            emit(json ? event.canonicalJSONText : event.readableText + "\n")
        }
    }

    private func watchChannels() async throws {
        if !formerChannels.isEmpty {
            note("note: --channel is now --notify-channel (raw NOTIFY channels); --channel will name pgrelay channels")
        }
        note("listening on channel\(channels.count == 1 ? "" : "s") \(channels.joined(separator: ", ")); Ctrl-C to stop")
        for try await notification in Listener.rawNotifications(conninfo: connection.conninfo, channels: channels) {
            if json {
                emit(JSONValue.object([
                    ("channel", .string(notification.channel)), ("pid", .number(String(notification.senderPID))),
                    ("payload", .string(notification.payload)),
                ]).jsonText)
            } else {
                emit("channel \(notification.channel)  pid \(notification.senderPID)\n\(notification.payload)\n")
            }
        }
    }
}

/// Runs `handler` when the process receives `signal`, instead of the default (exit without cleanup).
/// Waiting for a process signal, for commands that stop on Ctrl-C or SIGTERM.
enum Signals {
    /// Dispatch sources are safe to cancel from any thread (GCD's own guarantee), which is all
    /// that is shared; hence unchecked.
    private final class Sources: @unchecked Sendable {
        let sources: [DispatchSourceSignal]
        init(_ sources: [DispatchSourceSignal]) { self.sources = sources }
        func cancel() { sources.forEach { $0.cancel() } }
    }

    /// Returns when one of `signals` arrives, or when the task is cancelled.
    static func first(of signals: [Int32]) async {
        let made = Sources(signals.map { number in
            Foundation.signal(number, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: number, queue: .global())
        })
        let resumed = Mutex(false)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let once: @Sendable () -> Void = {
                    if resumed.withLock({ done in defer { done = true }; return !done }) { continuation.resume() }
                }
                for source in made.sources {
                    source.setEventHandler(handler: once)
                    source.setCancelHandler(handler: once)
                    source.resume()
                }
                if Task.isCancelled { made.cancel() }
            }
        } onCancel: {
            made.cancel()
        }
        made.cancel()
    }
}
