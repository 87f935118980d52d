import ArgumentParser
import Configuration
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
    @Option(help: "Address to bind (default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default 3100).") var port: Int?
    @Flag(name: .customLong("insecure-no-auth"), help: "Allow binding beyond loopback with no authentication.") var insecureNoAuth = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        try await reportingErrors {
            var logger = Logger(label: "pgrelay")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            let settings = try await ServeSettings.load(file: config)
            var configuration = try settings.serveConfiguration()
            if let url = connection.databaseURL { configuration.conninfo = url }
            if configuration.conninfo.isEmpty { configuration.conninfo = connection.conninfo }
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            if insecureNoAuth { configuration.insecureNoAuth = true }

            // Fail now, with one clear line, if the database is unreachable or pgrelay is not installed.
            let db = try Connection(conninfo: configuration.conninfo, applicationName: "pgrelay serve")
            let installer = Installer(connection: db)
            try installer.requireInitialized()
            for (table, events) in try settings.tables() {
                let subscription = try installer.subscribe(table, events: events)
                logger.info("subscribed", metadata: ["table": "\(subscription.table)", "events": "\(subscription.events)"])
            }
            if configuration.auth.isEnabled {
                logger.notice("authentication on: tokens are required", metadata: ["bind": "\(configuration.host):\(configuration.port)"])
            } else {
                logger.notice(
                    "authentication is not configured: every client can read every subscribed table",
                    metadata: ["bind": "\(configuration.host):\(configuration.port)", "loopback_only": "\(configuration.isLoopback)"]
                )
            }
            let app = try await buildApplication(configuration, logger: logger)
            try await app.runService()
        }
    }
}

/// `serve`'s settings: the YAML file, under PGRELAY_* environment variables.
struct ServeSettings {
    let reader: ConfigReader

    static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ServeSettings {
        // PGRELAY_SERVER_PORT is the key server.port: strip the prefix, the provider does the rest.
        let prefixed = environment.compactMap { key, value in
            key.hasPrefix("PGRELAY_") ? (String(key.dropFirst("PGRELAY_".count)), value) : nil
        }
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: Dictionary(prefixed, uniquingKeysWith: { $1 }), secretsSpecifier: .specific(["AUTH_JWT_SECRET"]))
        ]
        if let file {
            guard FileManager.default.fileExists(atPath: file) else {
                throw ServeConfigurationError(description: "configuration file \(file) does not exist")
            }
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: .init(file)))
            } catch {
                throw ServeConfigurationError(description: "configuration file \(file) does not parse: \(error)")
            }
        }
        return ServeSettings(reader: ConfigReader(providers: providers))
    }

    func serveConfiguration() throws -> ServeConfiguration {
        var configuration = ServeConfiguration(conninfo: reader.string(forKey: "database.url", default: ""))
        configuration.host = reader.string(forKey: "server.host", default: configuration.host)
        configuration.port = reader.int(forKey: "server.port", default: configuration.port)
        configuration.keepAliveSeconds = reader.double(forKey: "server.keepalive_seconds", default: configuration.keepAliveSeconds)
        configuration.retryMilliseconds = reader.int(forKey: "server.retry_ms", default: configuration.retryMilliseconds)
        configuration.queueLimit = reader.int(forKey: "server.queue_limit", default: configuration.queueLimit)
        configuration.webSocketPingSeconds = reader.int(forKey: "server.ws_ping_seconds", default: configuration.webSocketPingSeconds)
        configuration.insecureNoAuth = reader.bool(forKey: "server.insecure_no_auth", default: false)
        guard configuration.port >= 0, configuration.port < 65536, configuration.queueLimit > 0, configuration.keepAliveSeconds > 0 else {
            throw ServeConfigurationError(description: "server.port must be 0-65535, and queue_limit and keepalive_seconds positive")
        }
        var jwks: String?
        let jwksFile = reader.string(forKey: "auth.jwks_file", default: "")
        if !jwksFile.isEmpty {
            do {
                jwks = try String(contentsOfFile: jwksFile, encoding: .utf8)
            } catch {
                throw ServeConfigurationError(description: "auth.jwks_file \(jwksFile) cannot be read: \(error.localizedDescription)")
            }
        }
        configuration.auth = Authenticator.Configuration(
            jwtSecret: reader.string(forKey: "auth.jwt_secret", isSecret: true, default: ""),
            jwks: jwks,
            policy: try AccessPolicy(
                roleClaim: reader.string(forKey: "auth.role_claim", default: "role"),
                access: reader.stringArray(forKey: "auth.access", default: []),
                scopes: reader.stringArray(forKey: "auth.scopes", default: [])
            )
        )
        return configuration
    }

    /// `tables:` entries, "schema.table" or "schema.table: INSERT,UPDATE".
    func tables() throws -> [(TableName, EventSet)] {
        try reader.stringArray(forKey: "tables", default: []).map { entry in
            let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let table = try TableName(parsing: parts[0])
            return (table, parts.count > 1 ? try EventSet(parsing: parts[1]) : .default)
        }
    }
}
