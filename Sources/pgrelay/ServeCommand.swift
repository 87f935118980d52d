import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: SSE and WebSocket streams, JSON replay pages, /health and /metrics.",
        discussion: """
            Settings come from --config (see config/pgrelay.yaml for every setting and its default),
            overridden by PGRELAY_* environment variables, overridden by these flags.
            SIGTERM or SIGINT stops accepting, ends the streams and exits 0.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "A YAML configuration file, e.g. config/pgrelay.yaml.") var config: String?
    @Option(
        name: .customLong("read-url"),
        help: "A hot standby to read ticks and the log from; the primary (--database-url) still LISTENs, ticks and takes writes.")
    var readURL: String?
    @Option(help: "Address to bind (default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default 3100).") var port: Int?
    @Flag(name: .customLong("insecure-no-auth"), help: "Allow binding beyond loopback with no authentication.") var insecureNoAuth = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(name: .customLong("log-format"), help: "text (the default) or json: one JSON object per line, for log shippers.") var logFormat = "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level is trace, debug, info, notice, warning or error, not '\(logLevel)'")
        }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json, not '\(logFormat)'") }
    }

    func run() async throws {
        try await reportingErrors {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            var logger = logFormat == "json" ? Logger(label: "pgrelay") { JSONLogHandler(label: $0, level: level) } : Logger(label: "pgrelay")
            logger.logLevel = level
            let settings = try await ServeSettings.load(file: config)
            var configuration = try settings.serveConfiguration()
            if let url = connection.databaseURL { configuration.conninfo = url }
            if configuration.conninfo.isEmpty { configuration.conninfo = connection.conninfo }
            if let readURL { configuration.readConninfo = readURL.isEmpty ? nil : readURL }
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            if insecureNoAuth { configuration.insecureNoAuth = true }

            // Fail now, with one clear line, if the database is unreachable or pgrelay is not installed.
            let tables = try settings.tables()
            let subscribed = try await Database(conninfo: configuration.conninfo, applicationName: "pgrelay serve").run { db in
                let installer = Installer(connection: db)
                // An older schema lacks what channels, presence and Supabase clients need: say so now.
                try installer.schema.requireSchema(atLeast: try SchemaMigration.currentVersion(), for: "pgrelay serve")
                return try tables.map { table, events, notify in try installer.subscribe(table, events: events, notify: notify) }
            }
            for subscription in subscribed {
                logger.info(
                    "subscribed",
                    metadata: ["table": "\(subscription.table)", "events": "\(subscription.events)", "notify": "\(subscription.notify)"]
                )
            }
            if let read = configuration.readConninfo {
                // The same one clear line for the read server: it must be reachable and hold pgrelay's schema.
                do {
                    let inRecovery = try await Database(conninfo: read, applicationName: "pgrelay serve").run { standby in
                        try SchemaMigration(connection: standby).requireInitialized()
                        return try standby.query("select pg_is_in_recovery() as in_recovery")[0].decode("in_recovery", as: Bool.self)
                    }
                    if !inRecovery {
                        logger.warning("the read server is not a standby: ticks and the log are read from the primary until it is one")
                    }
                } catch let error as PostgresError {
                    throw PostgresError(error.code, "read server (--read-url): \(error.message)", sqlState: error.sqlState)
                }
            }
            if configuration.auth.isEnabled {
                logger.notice("authentication on: tokens are required", metadata: ["bind": "\(configuration.host):\(configuration.port)"])
            } else {
                logger.notice(
                    "authentication is not configured: every client can read every subscribed table",
                    metadata: ["bind": "\(configuration.host):\(configuration.port)", "loopback_only": "\(configuration.isLoopback)"]
                )
            }
            FileLimit.raise(toFit: configuration.limits.connections + configuration.pool.size + 64, logger: logger)
            let app = try await buildApplication(configuration, logger: logger)
            try await app.runService()
        }
    }
}

/// The process's open-file limit: each connection is a file. The soft limit (often 1,024) is raised
/// towards what `limits.connections` needs, as far as the hard limit allows; when it cannot reach
/// it, serve says how many connections the system allows (beyond them, accepting fails).
enum FileLimit {
    static func raise(toFit wanted: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let target = min(rlim_t(wanted), limit.rlim_max)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        if target < rlim_t(wanted) {
            logger.warning(
                "the open-file limit is \(target), fewer than the \(wanted) files limits.connections needs; raise the hard limit (ulimit -Hn) or lower limits.connections",
                metadata: ["hard_limit": "\(limit.rlim_max)"]
            )
        }
    }
}
