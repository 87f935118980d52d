import Foundation
import PGRelayCore
import PGRelayServer
import Testing

@Suite struct ServeSettingsTests {
    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The shipped default file parses and gives the documented defaults.
    @Test func theDocumentedDefaultFileGivesTheDefaults() async throws {
        var directory = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { directory.deleteLastPathComponent() }
        let settings = try await ServeSettings.load(file: directory.appendingPathComponent("config/pgrelay.yaml").path, environment: [:])
        let configuration = try settings.serveConfiguration()
        let defaults = ServeConfiguration(conninfo: "")
        #expect(configuration.host == defaults.host && configuration.port == defaults.port)
        #expect(
            configuration.keepAliveSeconds == defaults.keepAliveSeconds && configuration.tail == defaults.tail && configuration.pool == defaults.pool)
        #expect(configuration.retryMilliseconds == defaults.retryMilliseconds && configuration.webSocketPingSeconds == defaults.webSocketPingSeconds)
        #expect(!configuration.auth.isEnabled && !configuration.insecureNoAuth)
        #expect(configuration.poll == defaults.poll)
        #expect(try settings.tables().isEmpty)
    }

    @Test func pollIntervalsComeFromTheLogSection() async throws {
        let settings = try await ServeSettings.load(file: nil, environment: ["PGRELAY_LOG_POLL_MS": "25", "PGRELAY_LOG_IDLE_POLL_MS": "1000"])
        #expect(try settings.serveConfiguration().poll == PollSchedule(interval: 0.025, idleInterval: 1))
        let backwards = try await ServeSettings.load(file: nil, environment: ["PGRELAY_LOG_POLL_MS": "500", "PGRELAY_LOG_IDLE_POLL_MS": "100"])
        #expect { try backwards.serveConfiguration() } throws: { "\($0)".contains("log.idle_poll_ms") }
    }

    @Test func publicTablesAreTableNames() async throws {
        let settings = try await ServeSettings.load(file: try write("cache:\n  public_tables: [public.orders, catalog]\n"), environment: [:])
        #expect(
            try settings.serveConfiguration().publicTables == [
                TableName(schema: "public", name: "orders"), TableName(schema: "public", name: "catalog"),
            ])
        let bad = try await ServeSettings.load(file: try write("cache:\n  public_tables: [\"a.b.c\"]\n"), environment: [:])
        #expect { try bad.serveConfiguration() } throws: { "\($0)".contains("cache.public_tables: 'a.b.c' is not a table name") }
    }

    @Test func fileValuesAreOverriddenByEnvironment() async throws {
        let path = try write(
            """
            server:
              port: 4000
            tail:
              max_changes: 50
            database:
              statement_timeout_ms: 900
            tables:
              - public.orders
              - "app.items: INSERT,TRUNCATE notify=off"
              - "app.quiet notify=payload"
            auth:
              jwt_secret: "from-the-file-from-the-file-from-the-file"
              access:
                - "authenticated: public.orders"
              scopes:
                - "public.orders: user_id=eq.{sub}"
            """
        )
        let settings = try await ServeSettings.load(
            file: path, environment: ["PGRELAY_SERVER_PORT": "4100", "PGRELAY_SERVER_HOST": "127.0.0.2", "SERVER_PORT": "1"])
        let configuration = try settings.serveConfiguration()
        #expect(
            configuration.port == 4100 && configuration.host == "127.0.0.2" && configuration.tail.changes == 50
                && configuration.pool.statementTimeoutMilliseconds == 900)
        #expect(configuration.auth.jwtSecret == "from-the-file-from-the-file-from-the-file")
        #expect(configuration.auth.policy.scopes[TableName(schema: "public", name: "orders")] == "user_id=eq.{sub}")
        let tables = try settings.tables()
        #expect(
            tables.map(\.table) == [
                TableName(schema: "public", name: "orders"), TableName(schema: "app", name: "items"), TableName(schema: "app", name: "quiet"),
            ])
        #expect(tables.map(\.events.description) == ["INSERT,UPDATE,DELETE,TRUNCATE", "INSERT,TRUNCATE", "INSERT,UPDATE,DELETE,TRUNCATE"])
        #expect(tables.map(\.notify) == [nil, .off, .payload])
    }

    @Test func mistakesAreClearErrors() async throws {
        await #expect { _ = try await ServeSettings.load(file: "/nonexistent/pgrelay.yaml", environment: [:]) } throws: {
            "\($0)".contains("does not exist")
        }
        let broken = try write("server: [unclosed")
        await #expect { _ = try await ServeSettings.load(file: broken, environment: [:]) } throws: { "\($0)".contains("does not parse") }
        let badRule = try write("auth:\n  access:\n    - \"no colon here\"\n")
        let settings = try await ServeSettings.load(file: badRule, environment: [:])
        #expect { _ = try settings.serveConfiguration() } throws: { "\($0)".contains("must be '<role>: <table>") }
        let badPort = try await ServeSettings.load(file: nil, environment: ["PGRELAY_SERVER_PORT": "70000"])
        #expect { _ = try badPort.serveConfiguration() } throws: { "\($0)".contains("server.port") }
    }
}
