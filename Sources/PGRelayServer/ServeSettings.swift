import Configuration
import Foundation
import PGRelayCore

/// `serve`'s settings: the YAML file, under PGRELAY_* environment variables.
public struct ServeSettings: Sendable {
    let reader: ConfigReader

    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ServeSettings {
        // PGRELAY_SERVER_PORT is the key server.port: strip the prefix, the provider does the rest.
        let prefixed = environment.compactMap { key, value in
            key.hasPrefix("PGRELAY_") ? (String(key.dropFirst("PGRELAY_".count)), value) : nil
        }
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(
                environmentVariables: Dictionary(prefixed, uniquingKeysWith: { $1 }), secretsSpecifier: .specific(["AUTH_JWT_SECRET"]))
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

    public func serveConfiguration() throws -> ServeConfiguration {
        var configuration = ServeConfiguration(conninfo: reader.string(forKey: "database.url", default: ""))
        configuration.readConninfo = reader.string(forKey: "database.read_url", default: "").nilIfEmpty
        configuration.readMaxLagSeconds = reader.double(forKey: "database.read_max_lag_seconds", default: configuration.readMaxLagSeconds)
        guard configuration.readMaxLagSeconds > 0 else {
            throw ServeConfigurationError(description: "database.read_max_lag_seconds must be positive")
        }
        configuration.host = reader.string(forKey: "server.host", default: configuration.host)
        configuration.port = reader.int(forKey: "server.port", default: configuration.port)
        configuration.keepAliveSeconds = reader.double(forKey: "server.keepalive_seconds", default: configuration.keepAliveSeconds)
        configuration.retryMilliseconds = reader.int(forKey: "server.retry_ms", default: configuration.retryMilliseconds)
        configuration.tail.changes = reader.int(forKey: "tail.max_changes", default: configuration.tail.changes)
        configuration.tail.bytes = reader.int(forKey: "tail.max_bytes", default: configuration.tail.bytes)
        configuration.pool.size = reader.int(forKey: "database.pool_size", default: configuration.pool.size)
        configuration.pool.statementTimeoutMilliseconds = reader.int(
            forKey: "database.statement_timeout_ms", default: configuration.pool.statementTimeoutMilliseconds)
        configuration.listenerAnswerTimeout = Double(
            reader.int(forKey: "database.answer_timeout_seconds", default: Int(configuration.listenerAnswerTimeout)))
        configuration.webSocketPingSeconds = reader.int(forKey: "server.ws_ping_seconds", default: configuration.webSocketPingSeconds)
        configuration.insecureNoAuth = reader.bool(forKey: "server.insecure_no_auth", default: false)
        configuration.headerTimeoutSeconds = reader.int(forKey: "server.header_timeout_seconds", default: configuration.headerTimeoutSeconds)
        configuration.idleTimeoutSeconds = reader.int(forKey: "server.idle_timeout_seconds", default: configuration.idleTimeoutSeconds)
        configuration.bodyTimeoutSeconds = reader.int(forKey: "server.body_timeout_seconds", default: configuration.bodyTimeoutSeconds)
        configuration.allowedHosts = reader.stringArray(forKey: "server.allowed_hosts", default: [])
        _ = try AllowedHosts(configured: configuration.allowedHosts, authOn: true)
        guard configuration.bodyTimeoutSeconds > 0 else { throw ServeConfigurationError(description: "server.body_timeout_seconds must be positive") }
        guard configuration.headerTimeoutSeconds > 0, Double(configuration.idleTimeoutSeconds) > configuration.keepAliveSeconds else {
            throw ServeConfigurationError(
                description: "server.header_timeout_seconds must be positive, and server.idle_timeout_seconds longer than server.keepalive_seconds"
            )
        }
        let details = reader.string(forKey: "server.details", default: "loopback")
        guard let audience = ServeConfiguration.DetailsAudience(rawValue: details) else {
            throw ServeConfigurationError(description: "server.details must be loopback or everyone, not '\(details)'")
        }
        configuration.details = audience
        configuration.limits.connections = reader.int(forKey: "limits.connections", default: configuration.limits.connections)
        configuration.limits.connectionsPerAddress = reader.int(
            forKey: "limits.connections_per_address", default: configuration.limits.connectionsPerAddress)
        configuration.limits.limitLoopback = reader.bool(forKey: "limits.limit_loopback", default: configuration.limits.limitLoopback)
        configuration.limits.streamsPerUser = reader.int(forKey: "limits.streams_per_user", default: configuration.limits.streamsPerUser)
        configuration.limits.subscriptionsPerSocket = reader.int(
            forKey: "limits.subscriptions_per_socket", default: configuration.limits.subscriptionsPerSocket)
        configuration.limits.concurrentReplays = reader.int(forKey: "limits.concurrent_replays", default: configuration.limits.concurrentReplays)
        configuration.limits.replayStallSeconds = reader.double(
            forKey: "limits.replay_stall_seconds", default: configuration.limits.replayStallSeconds)
        configuration.limits.messageBytes = reader.int(forKey: "limits.message_bytes", default: configuration.limits.messageBytes)
        configuration.limits.ephemeralBytes = reader.int(forKey: "limits.ephemeral_bytes", default: configuration.limits.ephemeralBytes)
        configuration.limits.messagesPerSecond = reader.int(forKey: "limits.messages_per_second", default: configuration.limits.messagesPerSecond)
        configuration.limits.channelsPerSocket = reader.int(forKey: "limits.channels_per_socket", default: configuration.limits.channelsPerSocket)
        configuration.limits.snapshotRows = reader.int(forKey: "limits.snapshot_rows", default: configuration.limits.snapshotRows)
        configuration.limits.snapshotSeconds = reader.double(forKey: "limits.snapshot_seconds", default: configuration.limits.snapshotSeconds)
        configuration.limits.concurrentSnapshots = reader.int(
            forKey: "limits.concurrent_snapshots", default: configuration.limits.concurrentSnapshots)
        let limits = configuration.limits
        guard limits.replayStallSeconds > 0 else { throw ServeConfigurationError(description: "limits.replay_stall_seconds must be positive") }
        guard limits.snapshotSeconds > 0 else { throw ServeConfigurationError(description: "limits.snapshot_seconds must be positive") }
        guard
            [
                limits.connections, limits.connectionsPerAddress, limits.streamsPerUser, limits.subscriptionsPerSocket, limits.concurrentReplays,
                limits.messageBytes, limits.ephemeralBytes, limits.messagesPerSecond, limits.channelsPerSocket, limits.snapshotRows,
                limits.concurrentSnapshots,
            ].allSatisfy({ $0 > 0 })
        else {
            throw ServeConfigurationError(
                description:
                    "limits.connections, connections_per_address, streams_per_user, subscriptions_per_socket, concurrent_replays, message_bytes, ephemeral_bytes, messages_per_second, channels_per_socket, snapshot_rows and concurrent_snapshots must be positive"
            )
        }
        configuration.presenceExpirySeconds = reader.double(forKey: "presence.expiry_seconds", default: configuration.presenceExpirySeconds)
        guard configuration.presenceExpirySeconds >= 1 else {
            throw ServeConfigurationError(description: "presence.expiry_seconds must be at least 1")
        }
        configuration.allowedOrigins = try AllowedOrigins(parsing: reader.stringArray(forKey: "server.allowed_origins", default: []))
        configuration.trustedProxies = try TrustedProxies(parsing: reader.stringArray(forKey: "server.trusted_proxies", default: []))
        configuration.metricsChannelLabels = Set(reader.stringArray(forKey: "metrics.channel_labels", default: []))
        configuration.publicTables = Set(
            try reader.stringArray(forKey: "cache.public_tables", default: []).map { name in
                do {
                    return try TableName(parsing: name)
                } catch {
                    throw ServeConfigurationError(description: "cache.public_tables: '\(name)' is not a table name (\(error))")
                }
            })
        guard configuration.port >= 0, configuration.port < 65536, configuration.keepAliveSeconds > 0 else {
            throw ServeConfigurationError(description: "server.port must be 0-65535, and server.keepalive_seconds positive")
        }
        guard configuration.tail.changes > 0, configuration.tail.bytes > 0 else {
            throw ServeConfigurationError(description: "tail.max_changes and tail.max_bytes must be positive")
        }
        guard configuration.pool.size > 0, configuration.pool.size <= 100, configuration.pool.statementTimeoutMilliseconds > 0,
            configuration.listenerAnswerTimeout > 0
        else {
            throw ServeConfigurationError(
                description: "database.pool_size must be 1-100, and database.statement_timeout_ms and database.answer_timeout_seconds positive"
            )
        }
        let pollMilliseconds = reader.int(forKey: "log.poll_ms", default: 10)
        let idlePollMilliseconds = reader.int(forKey: "log.idle_poll_ms", default: 250)
        guard pollMilliseconds > 0, idlePollMilliseconds >= pollMilliseconds else {
            throw ServeConfigurationError(description: "log.poll_ms must be positive and log.idle_poll_ms at least as large")
        }
        configuration.poll = PollSchedule(interval: Double(pollMilliseconds) / 1000, idleInterval: Double(idlePollMilliseconds) / 1000)
        var jwks: String?
        let jwksFile = reader.string(forKey: "auth.jwks_file", default: "")
        if !jwksFile.isEmpty {
            do {
                jwks = try String(contentsOfFile: jwksFile, encoding: .utf8)
            } catch {
                throw ServeConfigurationError(description: "auth.jwks_file \(jwksFile) cannot be read: \(error.localizedDescription)")
            }
        }
        var policy = try AccessPolicy(
            roleClaim: reader.string(forKey: "auth.role_claim", default: "role"),
            access: reader.stringArray(forKey: "auth.access", default: []),
            scopes: reader.stringArray(forKey: "auth.scopes", default: [])
        )
        policy.channels = try ChannelAccess(
            read: reader.stringArray(forKey: "auth.channels", default: []),
            send: reader.stringArray(forKey: "auth.channel_senders", default: []),
            readPrivate: reader.stringArray(forKey: "auth.private_channels", default: [])
        )
        policy.userClaim = reader.string(forKey: "auth.user_claim", default: "sub")
        configuration.auth = Authenticator.Configuration(
            jwtSecret: reader.string(forKey: "auth.jwt_secret", isSecret: true, default: ""),
            jwks: jwks,
            policy: policy,
            audience: reader.string(forKey: "auth.audience", default: "").nilIfEmpty,
            issuer: reader.string(forKey: "auth.issuer", default: "").nilIfEmpty
        )
        return configuration
    }

    /// `tables:` entries, "schema.table" or "schema.table: INSERT,UPDATE".
    /// The tables under `tables:`: `"schema.table"`, `"schema.table: INSERT,UPDATE"`, and either
    /// with ` notify=off` (or `auto`, `wake`, `payload`) at the end. No notify mode keeps the mode of a
    /// table already subscribed, so that restarting serve never changes what writers pay.
    public func tables() throws -> [(table: TableName, events: EventSet, notify: NotifyMode?)] {
        try reader.stringArray(forKey: "tables", default: []).map { entry in
            var rest = Substring(entry.trimmingCharacters(in: .whitespaces))
            var notify: NotifyMode?
            if let mark = rest.range(of: " notify=", options: .backwards) {
                notify = try NotifyMode(parsing: String(rest[mark.upperBound...]))
                rest = rest[..<mark.lowerBound]
            }
            let parts = rest.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return (try TableName(parsing: parts[0]), parts.count > 1 ? try EventSet(parsing: parts[1]) : .default, notify)
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
