import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove what is no longer needed: old changes, ticks and channel messages, stale presence, gone relays and their connections.",
        discussion: """
            Defaults: changes and channel messages committed more than 7 days ago (--older-than), users
            offline for more than 7 days (--presence-older-than), and relays that stopped beating for
            longer than their expiry, with the connections they last published. --dry-run counts
            without removing.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("older-than"), help: "Changes and messages older than this: 90m, 24h, 7d (units s, m, h, d, w). Default 7d.")
    var olderThan: String = "7d"
    @Option(name: .customLong("presence-older-than"), help: "Presence of users offline for longer than this. Default 7d.")
    var presenceOlderThan: String = "7d"
    @Flag(name: .customLong("dry-run"), help: "Say what would be removed; remove nothing.") var dryRun = false
    @Flag(help: "One JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let age = try RetentionAge(parsing: olderThan)
            let presenceAge = try RetentionAge(parsing: presenceOlderThan)
            try await connection.run { db in
                let installer = Installer(connection: db)
                try installer.schema.requireInitialized()
                let log = try ChangeLog(connection: db).removeOlder(thanSeconds: age.seconds, dryRun: dryRun)
                var rows: [(what: String, key: String, count: Int64, rule: String)] = [
                    ("changes", "changes", log.changes, "committed more than \(age) ago"),
                    ("ticks", "ticks", log.ticks, "of those changes (the newest kept)"),
                    ("channel messages", "messages", log.messages, "sent more than \(age) ago"),
                ]
                if try installer.schema.schemaVersion() >= SchemaMigration.presenceVersion {
                    let presence = PresenceStore(connection: db)
                    let stale =
                        try dryRun ? presence.countOffline(forSeconds: presenceAge.seconds) : presence.cleanup(offlineForSeconds: presenceAge.seconds)
                    rows.append(("stale presence", "presence", Int64(stale), "users offline for more than \(presenceAge)"))
                }
                if try installer.schema.schemaVersion() >= SchemaMigration.operationsVersion {
                    let gone = try RelayDirectory(connection: db).removeGone(dryRun: dryRun)
                    rows.append(("gone relays", "relays", Int64(gone.relays), "no heartbeat within their expiry"))
                    rows.append(("their connections", "connections", Int64(gone.connections), "published by relays that are gone"))
                }
                if json {
                    emit(JSONValue.object([("dry_run", .bool(dryRun))] + rows.map { ($0.key, JSONValue.number(String($0.count))) }).jsonText)
                    return
                }
                emit(
                    TextTable(
                        header: [dryRun ? "WOULD REMOVE" : "REMOVED", "COUNT", "WHICH"], rows: rows.map { [$0.what, String($0.count), $0.rule] }
                    )
                    .rendered)
            }
        }
    }
}
