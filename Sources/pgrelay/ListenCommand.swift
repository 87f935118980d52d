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
            --snapshot prints the table's current rows first (as of an exact cut of the log), then
            every change after them: a live query. --filter keeps the rows and changes a row filter
            selects, in the PostgREST syntax of a stream's query (status=eq.paid); repeatable, ANDed.
            Both take exactly one TABLE.
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
    @Flag(help: "Print the table's current rows first, then every change after them (a live query).") var snapshot = false
    @Option(name: .customLong("filter"), help: "Only rows and changes this filter selects: status=eq.paid (repeatable, ANDed).")
    var filters: [String] = []

    func validate() throws {
        if !notifyChannels.isEmpty, !tables.isEmpty || !channels.isEmpty {
            throw ValidationError("give either tables and --channel, or --notify-channel, not both")
        }
        if !notifyChannels.isEmpty, since != nil {
            throw ValidationError("--since replays pgrelay's log; raw --notify-channel notifications have none")
        }
        if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
        if snapshot || !filters.isEmpty {
            let what = snapshot ? "--snapshot" : "--filter"
            guard tables.count == 1, channels.isEmpty, notifyChannels.isEmpty else {
                throw ValidationError("\(what) takes exactly one TABLE (and no --channel)")
            }
        }
        if snapshot, since != nil { throw ValidationError("--snapshot starts from the rows as they are now: drop --since") }
        _ = try rowFilter()
    }

    /// The `--filter`s, ANDed, as a stream's query would give them.
    func rowFilter() throws -> RowFilter {
        guard !filters.isEmpty else { return .all }
        var parameters: [(name: String, value: String)] = []
        for filter in filters {
            guard let equals = filter.firstIndex(of: "="), equals != filter.startIndex else {
                throw ValidationError("--filter \(filter): give COLUMN=OPERATOR.VALUE, such as status=eq.paid")
            }
            parameters.append((String(filter[..<equals]), String(filter[filter.index(after: equals)...])))
        }
        do {
            return try RowFilter(parameters: parameters)
        } catch {
            throw ValidationError("--filter: \(error)")
        }
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
        let (subscriptions, newest, described) = try await connection.run { db in
            let installer = Installer(connection: db)
            let subscriptions = onlyChannels ? [] : names.isEmpty ? try installer.subscriptions() : try installer.subscriptions(for: names)
            // A filter compares by the table's column types, as a stream's does.
            let described = names.count == 1 ? try installer.catalog.streamTable(names[0]) : nil
            return (subscriptions, try Ticker(connection: db).tick(), described)
        }
        var view = StreamRequest(filter: try rowFilter())
        if let described {
            view.columnTypes = described.columnTypes
            if let problem = view.filter.problem(types: described.columnTypes) { throw ValidationError("--filter: \(problem)") }
        }
        // A cursor this database never handed out would wait for other changes' ids, or none.
        if let since, since > newest { throw CursorAhead(requested: since, newest: newest) }
        if let since { try await connection.run { try Histories(connection: $0).requireKnown(since) } }
        var startAfter = since ?? newest
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
        if snapshot, let subscription = subscriptions.first {
            startAfter = try await printSnapshot(of: subscription, view: view)
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
        let key = described?.key ?? []
        for try await page in listener.pages() {
            if let reset = page.reset { emit(json ? Self.resetJSON(reset) : Self.resetText(reset) + "\n") }
            for entry in page.entries {
                // An access change (a member removed) is the relays' to apply, not a message to print.
                if case .message(let message) = entry, message.access != nil { continue }
                if case .change(let change) = entry, view.filter != .all {
                    // Through the filter as a stream sees it: a row that moves in is an INSERT, out a DELETE.
                    guard let seen = try view.view(of: change, key: key) else { continue }
                    emit(json ? LogEntry.change(seen).canonicalJSONText : LogEntry.change(seen).readableText + "\n")
                    continue
                }
                emit(json ? entry.canonicalJSONText : entry.readableText + "\n")
            }
        }
    }

    /// What `listen` prints when the database lost changes it had printed: the lines printed
    /// after `lost_after` are of a history the database no longer has; what follows is the new one.
    static func resetText(_ boundary: HistoryBoundary) -> String {
        "RESET history \(boundary.history): changes printed after id \(boundary.lostAfter) were lost (\(boundary.reason)); the new history's changes follow, from id \(boundary.resumesAfter + 1)"
    }

    /// `{"type":"reset","history",...}`: ``resetText(_:)`` for `--json`.
    static func resetJSON(_ boundary: HistoryBoundary) -> String {
        JSONValue.object([("type", .string("reset"))] + boundary.jsonMembers).jsonText
    }

    /// Prints the table's rows as of an exact cut (``SnapshotReading``), then the cut; returns the
    /// id the changes continue after. Read on two connections of its own, with no row limit.
    private func printSnapshot(of subscription: Subscription, view: StreamRequest) async throws -> Int64 {
        if let reason = SnapshotReading.unreadiness(of: subscription) { throw ValidationError(reason) }
        let reading = SnapshotReading(
            table: subscription.table, condition: SnapshotReading.condition(of: subscription), deadlineSeconds: 3600, rowLimit: Int.max)
        let reader = connection.database()
        let cut = try await reading.open(exporter: connection.database(), reader: reader)
        let (json, table) = (self.json, subscription.table)
        let (after, count) = try await reading.send(cut, reader: reader, request: view) { rows in
            for row in rows {
                emit(json ? #"{"type":"row","table":\#(JSONValue.string(table.description).jsonText),"row":\#(row)}"# : "row \(table) \(row)")
            }
        }
        if json {
            emit(#"{"type":"snapshot","after":\#(after),"rows":\#(count)}"#)
        } else {
            note("\(count) row\(count == 1 ? "" : "s") of \(table) as of change \(after); changes follow")
        }
        return after
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
