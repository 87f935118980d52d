import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PGRelayPostgres
import PGRelayServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: SSE streams, JSON replay pages and /health over HTTP.",
        discussion: "SIGTERM or SIGINT stops accepting, ends the streams and exits 0."
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 3100
    @Flag(name: .customLong("insecure-no-auth"), help: "Allow binding beyond loopback with no authentication.") var insecureNoAuth = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        try await reportingErrors {
            var logger = Logger(label: "pgrelay")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            var configuration = ServeConfiguration(conninfo: connection.conninfo)
            configuration.host = host
            configuration.port = port
            configuration.insecureNoAuth = insecureNoAuth
            // Fail now, with a clear line, if the database is unreachable or pgrelay is not installed.
            let db = try connection.connect()
            try Installer(connection: db).requireInitialized()
            logger.notice(
                "authentication is not configured: every client can read every subscribed table",
                metadata: ["bind": "\(host):\(port)", "loopback_only": "\(configuration.isLoopback)"]
            )
            let app = try buildApplication(configuration, logger: logger)
            try await app.runService()
        }
    }
}
