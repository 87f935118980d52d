import ArgumentParser
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer

/// `pgrelay demo`: everything working in one command. Without a database it starts a private
/// Postgres (removed when the demo stops); with one, it adds only its own schema there.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "See pgrelay work: a private Postgres, demo tables with a stream of writes, and the server.",
        discussion: """
            Without --database-url or $DATABASE_URL the demo starts a private PostgreSQL cluster in the
            temporary directory (its server binaries from PATH or /usr/lib/postgresql/*/bin) and removes
            it when it stops. With a database, it creates the schema pgrelay_demo there (pgrelay init
            installs the realtime schema if missing) and changes nothing else; the schema is kept.
            Ctrl-C or SIGTERM stops the writes, the server and the private cluster, and exits 0.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Demo writes per second (default 2).") var rate: Double = 2
    @Flag(name: .customLong("no-writes"), help: "Only serve: no demo writes.") var noWrites = false
    @Option(help: "Port to listen on (default 3100).") var port: Int = 3100
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel = "warning"

    func validate() throws {
        guard rate > 0, rate <= 10_000 else { throw ValidationError("--rate must be between 0 and 10000 writes per second, not \(rate)") }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0-65535, not \(port)") }
    }

    func run() async throws {
        try await reportingErrors {
            var logger = Logger(label: "pgrelay")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
            let cluster = connection.conninfo.isEmpty ? try await Blocking.run { try PrivateCluster.start() } : nil
            // Stopped however the demo ends, on a thread of its own (pg_ctl waits for the server).
            do {
                try await demo(on: cluster, logger: logger)
                _ = try? await Blocking.run { cluster?.stop() }
            } catch {
                _ = try? await Blocking.run { cluster?.stop() }
                throw error
            }
        }
    }

    /// Installs the demo schema, starts the writer and serves until a signal stops it.
    private func demo(on cluster: PrivateCluster?, logger: Logger) async throws {
        let conninfo = cluster?.conninfo ?? connection.conninfo

        try await Database(conninfo: conninfo, applicationName: "pgrelay demo").run { db in
            let installer = Installer(connection: db)
            _ = try installer.schema.initialize()
            try db.execute(DemoSchema.sql)
            for table in DemoSchema.tables { _ = try installer.subscribe(table) }
        }

        var configuration = ServeConfiguration(conninfo: conninfo)
        configuration.port = port
        let writer = noWrites ? nil : DemoWriter(conninfo: conninfo, rate: rate)
        let (rate, listenDatabase) = (self.rate, cluster.map { "--database-url '\($0.conninfo)' " } ?? "")
        let location =
            cluster.map { "a private Postgres in \($0.directory) (removed when the demo stops)" }
            ?? "the database you gave (schema \(DemoSchema.name))"
        let app = try await buildApplication(configuration, logger: logger) { bound in
            emit(
                """
                pgrelay demo: \(location), \(writer == nil ? "no demo writes" : "\(rate.formatted()) writes per second")
                  inspector: http://127.0.0.1:\(bound)/
                  SSE:       curl -N http://127.0.0.1:\(bound)/v1/stream/\(DemoSchema.name).orders
                  replay:    curl 'http://127.0.0.1:\(bound)/v1/changes/\(DemoSchema.name).orders?since=0'
                  terminal:  pgrelay listen \(listenDatabase)\(DemoSchema.tables.map(\.description).joined(separator: " "))
                  health:    http://127.0.0.1:\(bound)/health
                Ctrl-C stops the demo.
                """
            )
        }
        try await writer?.start()
        defer { writer?.stop() }
        try await app.runService()
    }
}
