import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Print changes from the log, oldest first.",
        discussion: """
            --since takes a change id (42: the changes after it), an ISO-8601 time
            (2026-11-23T10:00:00Z: changes committed at or after it) or unix seconds (@1763892000).
            A bare number is always an id. With no table and no --channel, replays every table in
            the log; --channel adds a channel's messages (repeatable), in the same id order.
            With --url, reads one table from a relay instead of the database: its /v1/changes
            pages (which an HTTP cache in front of the relays can answer), then with --follow
            its live stream, continuing exactly where the pages ended.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Tables to replay (default: all).") var tables: [String] = []
    @Option(name: .customLong("channel"), help: "A channel whose messages to replay (repeatable).") var channels: [String] = []
    @Option(help: "An id, an ISO-8601 time, or @unix-seconds.") var since: String
    @Option(help: "Print at most this many changes.") var limit: Int?
    @Flag(help: "One canonical JSON object per line.") var json = false
    @Option(help: "A relay's base URL (http://relay:3100): replay through its HTTP API instead of the database.") var url: String?
    @Option(help: "With --url: a token for the relay (default $PGRELAY_TOKEN), sent as a Bearer header.") var token: String?
    @Flag(help: "With --url: after the replay, stream the table's changes live until stopped.") var follow = false

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if let url {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw ValidationError("--url must be a relay's http:// or https:// address, not '\(url)'")
            }
            guard tables.count == 1, channels.isEmpty else { throw ValidationError("--url replays exactly one table (and no --channel)") }
        } else if follow || token != nil {
            throw ValidationError("--follow and --token go with --url; from the database, continue with pgrelay listen --since")
        }
    }

    func run() async throws {
        if let url {
            try await reportingErrors {
                let start = try ReplayStart(parsing: since)
                let relay = RelayReplay(
                    base: url.hasSuffix("/") ? String(url.dropLast()) : url, table: try TableName(parsing: tables[0]),
                    token: token ?? ProcessInfo.processInfo.environment["PGRELAY_TOKEN"], json: json, limit: limit
                )
                let (printed, next) = try await relay.catchUp(from: start)
                if follow { try await relay.follow(after: next) }
                note("\(printed) \(printed == 1 ? "change" : "changes"); continue with --since \(next)")
            }
            return
        }
        try await reportingErrors {
            let start = try ReplayStart(parsing: since)
            let names = try tables.map(TableName.init(parsing:))
            try await connection.run { db in
                let installer = Installer(connection: db)
                // The log's histories (schema version 13) bound every read.
                try installer.schema.requireSchema(atLeast: SchemaMigration.historiesVersion, for: "pgrelay replay")
                let store = ChannelStore(connection: db)
                for channel in channels { try store.requireKnown(channel) }
                let tableChannels =
                    names.isEmpty && !channels.isEmpty ? [] : names.isEmpty ? nil : try installer.subscriptions(for: names).map(\.channel)
                // Without a table, --channel replays only its messages; a page read for tables holds none.
                let logChannels = tableChannels.map { $0 + channels.map(ChannelName.forMessages) }
                let log = ChangeLog(connection: db)
                var after: Int64
                switch start {
                case .afterID(let id): after = id
                case .at(let date): after = try log.lastID(before: date)
                }
                // Replay what was committed when we started (ticking numbers it, with or without a
                // relay running); `listen --since` continues from there.
                let newest = try Ticker(connection: db).tick()
                if after > newest { throw CursorAhead(requested: after, newest: newest) }
                var printed = 0
                var reachedEnd = false
                while !reachedEnd {
                    let pageSize = min(1000, (limit ?? Int.max) - printed)
                    if pageSize <= 0 { break }
                    // A page ends at its count or at its byte budget (large rows): `full` says more may follow.
                    let page = try log.page(after: after, channels: logChannels, limit: pageSize)
                    if let bad = page.undecodable.first { throw PostgresError(.invalidData, bad.message) }
                    // Messages come only with --channel (a page read with no filter holds every channel's).
                    let wanted = Set(channels)
                    // An access change (a member removed) is the relays' to apply, not a message to print.
                    let all = page.entries.filter { if case .message(let m) = $0 { m.access == nil && wanted.contains(m.channel) } else { true } }
                    let entries = all.filter { $0.id <= newest }
                    for entry in entries {
                        emit(json ? entry.canonicalJSONText : entry.readableText + "\n")
                    }
                    printed += entries.count
                    // Everything up to the page's end (or up to `newest`, past which nothing is printed) is done.
                    after = max(after, min(page.through, newest))
                    reachedEnd = !page.full || page.through >= newest
                }
                // Past the end, nothing up to `newest` is left for these tables: resume from there.
                let resume = reachedEnd ? max(after, newest) : after
                let noun = channels.isEmpty ? "change" : names.isEmpty ? "message" : "entry"
                let plural = noun == "entry" ? "entries" : noun + "s"
                note("\(printed) \(printed == 1 ? noun : plural); continue with --since \(resume)")
            }
        }
    }
}
