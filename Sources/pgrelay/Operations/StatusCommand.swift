import ArgumentParser
import Foundation
import PGRelayCore
import PGRelayPostgres

/// `pgrelay status`: is it up, how far behind is it. Usable from cron and health checks: it exits
/// with 2 when no relay is live or a live relay lags more than `--max-lag-seconds` behind the newest id.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Schema version, subscriptions, every relay instance with its position and lag, connections, standbys; exit 2 when unhealthy.",
        discussion: "Exits 0 when at least one relay is live and none lags more than --max-lag-seconds; 2 otherwise; 1 on an error."
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "One JSON object.") var json = false
    @Option(name: .customLong("max-lag-seconds"), help: "A live relay further behind than this is a problem (default 60).")
    var maxLagSeconds: Double = 60
    @Option(
        name: .customLong("max-slot-wal-mb"),
        help: "With WAL capture: a replication slot holding more WAL than this many MB is a problem (default 1024).")
    var maxSlotWALMB: Double = 1024

    func run() async throws {
        try await reportingErrors {
            try await connection.run { db in
                let installer = Installer(connection: db)
                try installer.schema.requireInitialized()
                // Numbers what committed meanwhile, so the figures are current with no relay running.
                try Ticker(connection: db).tick()
                let log = ChangeLog(connection: db)
                let stats = try log.statistics()
                let subscriptions = try installer.subscriptions()
                let relays =
                    try installer.schema.schemaVersion() >= SchemaMigration.operationsVersion ? try RelayDirectory(connection: db).relays() : []
                var lags: [String: RelayInstance.Lag] = [:]
                for relay in relays where !relay.gone {
                    let position = relay.deliveredID ?? 0
                    lags[relay.id] = .init(
                        ids: max(0, stats.newestID - position), seconds: position >= stats.newestID ? 0 : try log.lagSeconds(after: position))
                }
                let standbys = try Standbys(connection: db).list()
                let live = relays.filter { !$0.gone }
                var problems: [String] = []
                if live.isEmpty { problems.append("no relay is live (run pgrelay serve)") }
                for relay in live {
                    if let lag = lags[relay.id], lag.seconds > maxLagSeconds {
                        problems.append(
                            "relay \(Self.short(relay.id)) is \(lag.ids) ids (\(Self.seconds(lag.seconds))) behind, more than --max-lag-seconds \(Self.seconds(maxLagSeconds))"
                        )
                    }
                }
                for subscription in subscriptions where !subscription.isHealthy {
                    problems.append("\(subscription.table): \(subscription.health)")
                }
                let slot = try WALSlotStatus.read(db)
                if let slot {
                    if let problem = slot.problem { problems.append("WAL capture: " + problem) }
                    if Double(slot.retainedBytes) > maxSlotWALMB * 1_048_576 {
                        problems.append(
                            "WAL capture: replication slot \(slot.slot) holds \(Self.bytes(slot.retainedBytes)) of WAL, more than --max-slot-wal-mb \(Int(maxSlotWALMB))"
                                + (slot.active ? "" : " (no relay reads it: is one running with REPLICATION?)"))
                    }
                    if !slot.active, slot.exists, !live.isEmpty {
                        problems.append(
                            "WAL capture: no relay reads replication slot \(slot.slot) (a relay's role needs REPLICATION); ticks wait for it")
                    }
                }
                if json {
                    emit(
                        JSONValue.object([
                            ("database", .string(db.databaseName)),
                            ("schema_version", .number(String(stats.schemaVersion))),
                            ("healthy", .bool(problems.isEmpty)),
                            ("problems", .array(problems.map(JSONValue.string))),
                            ("newest_id", .number(String(stats.newestID))),
                            ("log_changes", .number(String(stats.changes))),
                            ("log_bytes", .number(String(stats.bytes))),
                            (
                                "subscriptions",
                                .array(
                                    subscriptions.map { s in
                                        .object([
                                            ("table", .string(s.table.description)), ("events", .string(s.events.description)),
                                            ("notify", .string(s.notify.rawValue)), ("capture", .string(s.capture.rawValue)),
                                            ("condition", s.condition.map(JSONValue.string) ?? .null), ("health", .string(s.health)),
                                        ])
                                    })
                            ),
                            ("relays", .array(relays.map { relay in Self.json(relay, lag: lags[relay.id]) })),
                            ("live_relays", .number(String(live.count))),
                            ("standbys", .array(standbys.map(Self.json))),
                            ("capture", slot.map(Self.json) ?? .null),
                            ("connections", .number(String(live.map(\.connections).reduce(0, +)))),
                        ]).jsonText)
                } else {
                    emit(
                        TextTable(
                            header: ["database", db.databaseName],
                            rows: [
                                ["schema version", String(stats.schemaVersion)],
                                ["newest id", String(stats.newestID)],
                                ["log", "\(stats.changes) changes, \(Self.bytes(stats.bytes))"],
                                [
                                    "relays",
                                    "\(live.count) live"
                                        + (relays.count > live.count ? ", \(relays.count - live.count) gone (pgrelay cleanup removes them)" : ""),
                                ],
                                ["connections", String(live.map(\.connections).reduce(0, +))],
                                ["status", problems.isEmpty ? "ok" : problems.joined(separator: "; ")],
                            ]
                                + (slot.map {
                                    [
                                        [
                                            "wal capture",
                                            "slot \($0.slot), \($0.active ? "read by a relay" : "not read"), holds \(Self.bytes($0.retainedBytes)) of WAL, \(Self.bytes($0.lagBytes)) behind",
                                        ]
                                    ]
                                } ?? [])
                        ).rendered)
                    if !subscriptions.isEmpty {
                        emit("")
                        emit(
                            TextTable(
                                header: ["TABLE", "EVENTS", "CAPTURE", "NOTIFY", "CONDITION", "HEALTH"],
                                rows: subscriptions.map {
                                    [
                                        $0.table.description, $0.events.description, $0.capture.rawValue,
                                        $0.capture == .wal ? "-" : $0.notify.rawValue,
                                        $0.condition ?? "-", $0.health,
                                    ]
                                }
                            ).rendered)
                    }
                    if !relays.isEmpty {
                        emit("")
                        emit(
                            TextTable(
                                header: [
                                    "RELAY", "STATE", "ADDRESS", "VERSION", "POSITION", "LAG IDS", "LAG", "CONNECTIONS", "HEARTBEAT", "STARTED",
                                ],
                                rows: relays.map { relay in
                                    let lag = lags[relay.id]
                                    return [
                                        Self.short(relay.id), relay.gone ? "gone" : "live", "\(relay.host):\(relay.port.map(String.init) ?? "?")",
                                        relay.version,
                                        relay.deliveredID.map(String.init) ?? "-", lag.map { String($0.ids) } ?? "-",
                                        lag.map { Self.seconds($0.seconds) } ?? "-",
                                        String(relay.connections), "\(Self.seconds(relay.heartbeatAge)) ago", relay.startedAt,
                                    ]
                                }
                            ).rendered)
                    }
                    if !standbys.isEmpty {
                        emit("")
                        emit(
                            TextTable(
                                header: ["STANDBY", "ADDRESS", "STATE", "REPLAY BEHIND", "REPLAY LAG"],
                                rows: standbys.map { standby in
                                    [
                                        standby.name, standby.address ?? "local", standby.state ?? "-",
                                        standby.replayBytesBehind.map(Self.bytes) ?? "-",
                                        standby.replayLagSeconds.map(Self.seconds) ?? "-",
                                    ]
                                }
                            ).rendered)
                    }
                }
                if !problems.isEmpty { throw ExitCode(2) }
            }
        }
    }

    static func json(_ relay: RelayInstance, lag: RelayInstance.Lag?) -> JSONValue {
        .object([
            ("id", .string(relay.id)), ("state", .string(relay.gone ? "gone" : "live")), ("host", .string(relay.host)),
            ("port", relay.port.map { .number(String($0)) } ?? .null), ("pid", relay.pid.map { .number(String($0)) } ?? .null),
            ("version", .string(relay.version)), ("started_at", .string(relay.startedAt)), ("heartbeat_at", .string(relay.heartbeatAt)),
            ("heartbeat_age_seconds", .number(String(format: "%.1f", relay.heartbeatAge))),
            ("expiry_seconds", .number(String(format: "%g", relay.expirySeconds))),
            ("position", relay.deliveredID.map { .number(String($0)) } ?? .null),
            ("lag_ids", lag.map { .number(String($0.ids)) } ?? .null),
            ("lag_seconds", lag.map { .number(String(format: "%.1f", $0.seconds)) } ?? .null),
            ("connections", .number(String(relay.connections))),
        ])
    }

    static func json(_ slot: WALSlotStatus) -> JSONValue {
        .object([
            ("slot", .string(slot.slot)), ("exists", .bool(slot.exists)), ("active", .bool(slot.active)),
            ("wal_status", slot.walStatus.map(JSONValue.string) ?? .null),
            ("retained_wal_bytes", .number(String(slot.retainedBytes))), ("lag_bytes", .number(String(slot.lagBytes))),
        ])
    }

    static func json(_ standby: Standbys.Standby) -> JSONValue {
        .object([
            ("name", .string(standby.name)), ("address", standby.address.map(JSONValue.string) ?? .null),
            ("state", standby.state.map(JSONValue.string) ?? .null),
            ("replay_behind_bytes", standby.replayBytesBehind.map { .number(String($0)) } ?? .null),
            ("replay_lag_seconds", standby.replayLagSeconds.map { .number(String(format: "%.3f", $0)) } ?? .null),
        ])
    }

    /// The first 8 characters of a relay's id, as the tables show it.
    static func short(_ id: String) -> String { String(id.prefix(8)) }

    static func seconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.1fs", value) : value < 3600 ? String(format: "%.0fs", value) : String(format: "%.1fh", value / 3600)
    }

    static func bytes(_ bytes: Int64) -> String {
        let units = ["bytes", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[unit])
    }
}
