import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Runs the built `pgrelay` executable the way a user does, and checks what they would see.
@Suite struct CLITests {
    static var executable: URL { BuiltExecutable.pgrelay }

    func pgrelay(_ arguments: [String], database: String?) throws -> Subprocess.Output {
        try BuiltExecutable.run(arguments, database: database)
    }

    @Test func badInputGetsOneClearLineAndAFailingStatus() throws {
        let db = try TestDatabase(initialized: false)
        let cases: [([String], String)] = [
            (
                ["subscribe", "public.orders"],
                "pgrelay: pgrelay is not installed in database \"\(db.connection.databaseName)\" (no realtime schema); run pgrelay init"
            ),
            (["subscribe", "bad name"], "pgrelay: table name 'bad name' does not parse"),
            (["subscribe", "orders", "INSERT,UPSERT"], "pgrelay: unknown event 'UPSERT'"),
            (["replay", "orders", "--since", "yesterday"], "pgrelay: --since 'yesterday' is not a date in the form 2026-11-23; use an id (42)"),
            (["cleanup", "--older-than", "24"], "pgrelay: '24' is not an age"),
        ]
        for (arguments, message) in cases {
            let output = try pgrelay(arguments, database: db.conninfo)
            #expect(output.status != 0, "\(arguments)")
            #expect(output.stderr.hasPrefix(message), "\(arguments): \(output.stderr)")
            #expect(output.stderr.split(separator: "\n").count == 1, "\(arguments): \(output.stderr)")
        }
        #expect(try pgrelay(["init"], database: db.conninfo).status == 0)
        // Payload NOTIFYs hand rows to any login (LISTEN has no privileges): only when the operator says so.
        try db.connection.execute("create table secrets (id int primary key, code text)")
        let payload = try pgrelay(["subscribe", "public.secrets", "--notify", "payload"], database: db.conninfo)
        #expect(
            payload.status != 0 && payload.stderr.contains("any role able to log in can LISTEN")
                && payload.stderr.contains("--any-login-reads-payloads"), "\(payload.stderr)")
        #expect(try Installer(connection: db.connection).subscriptions().isEmpty, "nothing was subscribed")
        let accepted = try pgrelay(["subscribe", "public.secrets", "--notify", "payload", "--any-login-reads-payloads"], database: db.conninfo)
        #expect(accepted.status == 0 && accepted.stdout.contains("notify payload"), "\(accepted.stderr)")
        let unknown = try pgrelay(["subscribe", "public.nope"], database: db.conninfo)
        #expect(unknown.status != 0 && unknown.stderr == "pgrelay: table public.nope does not exist in database \"\(db.connection.databaseName)\"\n")
        let unreachable = try pgrelay(["status", "--database-url", "host=/nonexistent port=1 dbname=app"], database: nil)
        #expect(unreachable.status != 0 && unreachable.stderr.contains("host=/nonexistent port=1 dbname=app"))
    }

    @Test func subscribeListenReplayAndStatusEndToEnd() async throws {
        let db = try TestDatabase(initialized: false)
        #expect(try pgrelay(["init"], database: db.conninfo).stdout.hasPrefix("installed pgrelay schema"))
        try await db.execute("create table orders (id int primary key, status text, total numeric)")
        let subscribed = try pgrelay(["subscribe", "public.orders"], database: db.conninfo)
        #expect(
            subscribed.stdout == "subscribed public.orders (INSERT,UPDATE,DELETE,TRUNCATE, notify auto) on channel realtime:table:public.orders\n")

        // `listen --json --since 0` in the background: one change from before it started (replayed
        // from the log), one written while it listens (live).
        try await db.execute("insert into orders values (7, 'open', 12.5)")
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let listen = try Subprocess.start(Self.executable.path, ["listen", "public.orders", "--json", "--since", "0"], environment: environment)
        try await waitUntil("pgrelay listen to connect (stderr: \(listen.stderrSoFar))") {
            try db.connection.query(
                "select count(*) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()"
            ).first?[0] == "1"
        }
        try await db.execute("update orders set status = 'paid'")
        try await waitUntil(timeout: 30, "both changes to be printed") { listen.stdoutSoFar.split(separator: "\n").count >= 2 }
        // Ctrl-C ends it cleanly.
        listen.signal(SIGINT)
        let listened = listen.wait()
        #expect(listened.status == 0)
        let lines = listened.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(listened.stdout) \(listened.stderr)")
        #expect(try ChangeEvent(jsonText: lines[0]).operation == .insert)
        let update = try ChangeEvent(jsonText: lines[1])
        #expect(update.operation == .update && update.old?["status"] == .string("open") && update.new?["status"] == .string("paid"))

        let replay = try pgrelay(["replay", "public.orders", "--since", "0"], database: db.conninfo)
        #expect(replay.stdout.contains("#\(update.id)  UPDATE  public.orders\n  status: \"open\" → \"paid\""))
        #expect(replay.stderr == "2 changes; continue with --since \(update.id)\n")
        let limited = try pgrelay(["replay", "orders", "--since", "0", "--limit", "1", "--json"], database: db.conninfo)
        #expect(limited.stdout.split(separator: "\n").count == 1)
        #expect(limited.stderr == "1 change; continue with --since \(update.id - 1)\n")

        // No relay runs: status reports it and exits 2, for cron and health checks.
        let status = try pgrelay(["status", "--json"], database: db.conninfo)
        let json = try JSONValue(parsing: status.stdout)
        #expect(
            status.status == 2 && json["healthy"] == .bool(false) && json["problems"] == .array([.string("no relay is live (run pgrelay serve)")]),
            "\(status)")
        #expect(
            json["newest_id"] == .number(String(update.id)) && json["subscriptions"]?.arrayValue?.count == 1 && json["log_changes"] == .number("2"))
        let subscriptions = try pgrelay(["subscriptions"], database: db.conninfo)
        #expect(
            subscriptions.status == 0
                && subscriptions.stdout.contains(
                    "public.orders  INSERT,UPDATE,DELETE,TRUNCATE  trigger  auto    -          realtime:table:public.orders  2 "),
            "\(subscriptions.stdout)")
        #expect(try pgrelay(["unsubscribe", "orders"], database: db.conninfo).status == 0)
        let cleanup = try pgrelay(["cleanup", "--older-than", "1h"], database: db.conninfo).stdout
        #expect(cleanup.hasPrefix("REMOVED            COUNT  WHICH\nchanges            0      committed more than 1h ago\n"), "\(cleanup)")
    }

    /// `serve --config` reads the port and the tables to subscribe from the file; flags win over it.
    @Test func serveReadsItsConfigurationFile() async throws {
        let db = try TestDatabase()
        try await db.execute("create table things (id int primary key)")
        let port = 20_000 + Int.random(in: 0..<20_000)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-\(UUID().uuidString).yaml").path
        try "server:\n  port: 1\ntail:\n  max_changes: 10\ntables:\n  - \"public.things: INSERT,TRUNCATE\"\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let serve = try Subprocess.start(Self.executable.path, ["serve", "--config", file, "--port", String(port)], environment: environment)
        try await waitUntil("serve to subscribe the configured table (stderr: \(serve.stderrSoFar))") {
            try db.installer.subscriptions().map(\.events.description) == ["INSERT,TRUNCATE"]
        }
        try await waitUntil("serve to listen on port \(port)") {
            (try? connectTCP(port: port)).map {
                close($0)
                return true
            } ?? false
        }
        serve.signal(SIGTERM)
        #expect(serve.wait().status == 0)
        // A schema older than this pgrelay's: serve says to upgrade it instead of running without channels.
        let current = try SchemaMigration.currentVersion()
        try await db.execute("delete from realtime.schema_migrations where version = \(current)")
        let old = try pgrelay(["serve", "--port", "1"], database: db.conninfo)
        #expect(
            old.status != 0
                && old.stderr.hasPrefix(
                    "pgrelay: pgrelay serve needs pgrelay schema version \(current); database \"\(db.connection.databaseName)\" has version \(current - 1); run pgrelay init to upgrade it"
                ), "\(old.stderr)")
        let missing = try pgrelay(["serve", "--config", "/nonexistent.yaml"], database: db.conninfo)
        #expect(missing.status != 0 && missing.stderr == "pgrelay: configuration file /nonexistent.yaml does not exist\n")
    }

    /// `listen --notify-channel` prints raw notifications; `--channel`, its former spelling,
    /// still does for a name that is no pgrelay channel, and says so.
    @Test func listenPrintsRawNotificationsByEitherSpelling() async throws {
        let db = try TestDatabase(initialized: false)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        for option in ["--notify-channel", "--channel"] {
            let listen = try Subprocess.start(Self.executable.path, ["listen", option, "app:events"], environment: environment)
            defer {
                listen.signal(SIGKILL)
                _ = listen.wait()
            }
            try await waitUntilBlocking("listen to listen (stderr: \(listen.stderrSoFar))") {
                // Its LISTEN finished (idle after it), so it is registered: a NOTIFY sent before that would be missed.
                try db.connection.query(
                    "select count(*) from pg_stat_activity where datname = current_database() and query ilike 'listen%' and state = 'idle'"
                ).first?[0] == "1"
            }
            try await db.execute("select pg_notify('app:events', 'hello from \(option)')")
            try await waitUntilBlocking("the notification (stdout: \(listen.stdoutSoFar))") { listen.stdoutSoFar.contains("hello from \(option)") }
            #expect(listen.stdoutSoFar.hasPrefix("channel app:events  pid "), "\(listen.stdoutSoFar)")
            let renamed = listen.stderrSoFar.contains(
                "note: app:events is no pgrelay channel; watching as raw NOTIFY channels (--channel names pgrelay channels now")
            #expect(renamed == (option == "--channel"), "\(option): \(listen.stderrSoFar)")
        }
        let both = try pgrelay(["listen", "public.orders", "--notify-channel", "x"], database: db.conninfo)
        #expect(both.status != 0 && both.stderr.contains("give either tables and --channel, or --notify-channel, not both"), "\(both.stderr)")
    }

    /// SIGTERM ends open streams and exits 0 within a few seconds.
    @Test func serveStopsCleanlyOnSIGTERM() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(TableName(schema: "public", name: "orders"))
        let port = 20_000 + Int.random(in: 0..<20_000)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let serve = try Subprocess.start(Self.executable.path, ["serve", "--port", String(port)], environment: environment)
        try await waitUntil("serve to connect its listener") {
            try db.connection.query(
                "select count(*) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()"
            ).first?[0] == "1"
        }
        // An open SSE stream, kept open by curl-like raw socket use: a plain TCP client.
        let client = try TCPClient(port: port)
        try client.send("GET /v1/stream/public.orders HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        try await waitUntil("the stream to open") { client.received.contains("retry: 2000") }
        let started = Date()
        serve.signal(SIGTERM)
        let output = serve.wait()
        #expect(output.status == 0, "\(output.stderr)")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(output.stderr.contains("stream closed"))
    }
}

/// A bare TCP client that collects what it receives on a background thread.
final class TCPClient: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var buffer = ""

    init(port: Int) throws {
        fd = try connectTCP(port: port)
        let thread = Thread { [self] in
            var bytes = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &bytes, bytes.count)
                if n <= 0 { break }
                lock.withLock { buffer += String(decoding: bytes[0..<n], as: UTF8.self) }
            }
        }
        thread.start()
    }

    func send(_ text: String) throws { try sendAll(fd, text) }

    var received: String { lock.withLock { buffer } }

    deinit { close(fd) }
}

extension CLITests {
    /// `serve --log-format json`: every line one JSON object with timestamp, level, logger and
    /// message, metadata as fields, and no secret in any of them.
    @Test func serveLogsJSONLinesWithoutSecrets() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(TableName(schema: "public", name: "orders"))
        let port = 20_000 + Int.random(in: 0..<20_000)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let serve = try Subprocess.start(Self.executable.path, ["serve", "--port", String(port), "--log-format", "json"], environment: environment)
        defer {
            serve.signal(SIGKILL)
            _ = serve.wait()
        }
        try await waitUntil("serve to listen on port \(port) (stderr: \(serve.stderrSoFar))") {
            (try? connectTCP(port: port)).map {
                close($0)
                return true
            } ?? false
        }
        let stream = try openGET(port: port, "/v1/stream/public.orders?access_token=hunter2-secret&note=eq.open")
        close(stream.fd)
        try await waitUntil("the stream's log lines (stderr: \(serve.stderrSoFar))") { serve.stderrSoFar.contains("stream closed") }
        serve.signal(SIGTERM)
        let ended = serve.wait()
        let lines = ended.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count >= 3, "\(ended.stderr)")
        for line in lines {
            let entry = try JSONValue(parsing: line)
            #expect(entry.objectMembers?.prefix(4).map(\.key) == ["timestamp", "level", "logger", "message"], "\(line)")
            #expect(entry["timestamp"]?.stringValue?.hasSuffix("Z") == true && entry["logger"] == .string("pgrelay"), "\(line)")
        }
        let opened = try #require(lines.first { $0.contains("stream opened") }.map { try JSONValue(parsing: $0) })
        #expect(opened["level"] == .string("info") && opened["table"] == .string("public.orders"), "\(opened)")
        #expect(opened["query"] == .string("access_token=REDACTED&note=eq.open"), "\(opened)")
        #expect(!ended.stderr.contains("hunter2"), "\(ended.stderr)")
        let bad = try pgrelay(["serve", "--log-format", "xml"], database: db.conninfo)
        #expect(bad.status != 0 && bad.stderr.contains("--log-format is text or json, not 'xml'"), "\(bad.stderr)")
    }
}
