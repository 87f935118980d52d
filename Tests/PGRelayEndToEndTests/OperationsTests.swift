import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// The operator's commands against two real `pgrelay serve` processes on one database: `status`,
/// `stats`, `connections` and `subscriptions` show both instances' clients with the right counts
/// (text and JSON); an instance killed with -9 shows as gone within its heartbeat expiry, and
/// `cleanup` removes it; with no relay left, `status` exits 2.
@Suite struct OperationsTests {
    func pgrelay(_ arguments: [String], _ db: TestDatabase) throws -> Subprocess.Output {
        try BuiltExecutable.run(arguments, database: db.conninfo)
    }

    func json(_ arguments: [String], _ db: TestDatabase) throws -> JSONValue {
        try JSONValue(parsing: try pgrelay(arguments + ["--json"], db).stdout)
    }

    @Test(.timeLimit(.minutes(3))) func twoRelaysTheirClientsAndOneKilled() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(TableName(schema: "public", name: "orders"))
        // Heartbeats every second, gone after 3.
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-ops-\(UUID().uuidString).yaml").path
        try "presence:\n  expiry_seconds: 3\n".write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let ports = [20_000 + Int.random(in: 0..<10_000), 30_000 + Int.random(in: 0..<10_000)]
        let relays = try ports.map {
            try Subprocess.start(BuiltExecutable.pgrelay.path, ["serve", "--config", config, "--port", String($0)], environment: environment)
        }
        defer {
            for relay in relays {
                relay.signal(SIGKILL)
                _ = relay.wait()
            }
        }
        for port in ports {
            try await waitUntil("serve to listen on port \(port)") {
                (try? connectTCP(port: port)).map {
                    close($0)
                    return true
                } ?? false
            }
        }
        // Relay 0: an SSE stream of the table. Relay 1: a native WebSocket on channel room:1, and a Supabase socket on it too.
        let sse = try connectTCP(port: ports[0])
        defer { close(sse) }
        // Its user agent ends in U+009B, a terminal's control sequence introducer (valid UTF-8, allowed in HTTP).
        try sendAll(
            sse, "GET /v1/stream/public.orders HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ops-test-sse\u{9b}31m\r\nAccept: text/event-stream\r\n\r\n")
        #expect(readUntil(sse, contains: "\r\n\r\n", timeout: 30).hasPrefix("HTTP/1.1 200"))
        let native = try WebSocketProbe(port: ports[1], path: "/v1/ws")
        native.send(text: #"{"type":"subscribe","id":"c1","channel":"room:1"}"#)
        native.read(timeout: 30) { $0.messages.contains { $0.contains("subscribed") } }
        let supabase = try WebSocketProbe(port: ports[1], path: "/realtime/v1/websocket?vsn=1.0.0")
        supabase.send(text: #"{"topic":"realtime:room:1","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}"#)
        supabase.read(timeout: 30) { $0.messages.contains { $0.contains("phx_reply") } }
        for i in 1...3 { try await db.execute("insert into orders values (\(i), 'n')") }
        for i in 1...2 { try await db.execute(#"select realtime.send('{"n":\#(i)}', 'note', 'room:1', false)"#) }

        // Published with the next heartbeats, and delivered: positions at the newest id.
        try await waitUntil(timeout: 30, "both relays to publish their clients and reach the newest id") {
            let status = try json(["status"], db)
            let newest = status["newest_id"]
            return status["connections"] == .number("3") && status["relays"]?.arrayValue?.allSatisfy { $0["position"] == newest } == true
        }
        let status = try json(["status"], db)
        let newest = try #require(status["newest_id"]?.jsonText).flatMap { Int64($0) }
        #expect(newest == 5 && status["healthy"] == .bool(true) && status["live_relays"] == .number("2"), "\(status)")
        let listed = status["relays"]?.arrayValue ?? []
        #expect(Set(listed.compactMap { $0["port"]?.jsonText }) == Set(ports.map(String.init)), "\(status)")
        for relay in listed {
            #expect(relay["state"] == .string("live") && relay["lag_ids"] == .number("0") && relay["lag_seconds"] == .number("0.0"), "\(relay)")
            #expect(relay["version"] == .string(PGRelayVersion.current) && relay["expiry_seconds"] == .number("3"), "\(relay)")
            let port = relay["port"]?.jsonText
            #expect(relay["connections"] == .number(port == String(ports[0]) ? "1" : "2"), "\(relay)")
        }
        let relayIDs = Dictionary(
            uniqueKeysWithValues: listed.compactMap { relay in relay["port"].map { ($0.jsonText, relay["id"]?.stringValue ?? "") } })
        let text = try pgrelay(["status"], db)
        #expect(text.status == 0 && text.stdout.contains("relays          2 live\nconnections     3\nstatus          ok\n"), "\(text.stdout)")
        let row = text.stdout.split(separator: "\n").first { $0.contains(":\(ports[1])") }?.split(separator: " ").map(String.init) ?? []
        #expect(
            text.stdout.contains("RELAY     STATE  ADDRESS")
                && Array(row.dropFirst().prefix(7)) == ["live", row.count > 2 ? row[2] : "", PGRelayVersion.current, "5", "0", "0.0s", "2"],
            "\(text.stdout)")

        // Connections, field by field.
        let connections = try json(["connections"], db).arrayValue ?? []
        #expect(connections.count == 3, "\(connections)")
        let stream = connections.first { $0["transport"] == .string("sse") }
        #expect(stream?["relay"] == .string(relayIDs[String(ports[0])] ?? "?") && stream?["relay_state"] == .string("live"), "\(connections)")
        #expect(
            stream?["user_agent"] == .string("ops-test-sse\u{9b}31m") && stream?["subscriptions"] == .array([.string("public.orders")])
                && stream?["channels"] == .array([]), "\(connections)")
        #expect(stream?["user"] == .null && stream?["remote"]?.stringValue?.hasPrefix("127.0.0.1:") == true, "\(connections)")
        for transport in ["websocket", "supabase"] {
            let socket = connections.first { $0["transport"] == .string(transport) }
            #expect(
                socket?["relay"] == .string(relayIDs[String(ports[1])] ?? "?") && socket?["channels"] == .array([.string("room:1")]),
                "\(transport): \(connections)")
            #expect(socket?["connected_at"]?.stringValue?.hasSuffix("Z") == true && socket?["last_seen"]?.stringValue != nil, "\(connections)")
        }
        #expect(try json(["connections", "--channel", "room:1"], db).arrayValue?.count == 2)
        #expect(try pgrelay(["connections", "--user", "nobody"], db).stdout == "no connections of user nobody\n")
        let table = try pgrelay(["connections"], db).stdout
        #expect(table.hasPrefix("RELAY     ID        USER  TRANSPORT  REMOTE"), "\(table)")
        #expect(table.contains("ops-test-sse?31m") && !table.contains("\u{9b}"), "a client's control characters never reach the terminal: \(table)")
        #expect(table.contains("public.orders") && table.components(separatedBy: "room:1").count == 3, "\(table)")

        // Stats and subscriptions.
        let stats = try json(["stats", "--hours", "1"], db)
        #expect(
            stats["connections"] == .number("3") && stats["live_relays"] == .number("2") && stats["changes"] == .number("3")
                && stats["messages"] == .number("2"), "\(stats)")
        #expect(stats["tables"] == .array([.object([("table", .string("public.orders")), ("changes", .number("3"))])]), "\(stats)")
        #expect(stats["channel_messages"] == .array([.object([("channel", .string("room:1")), ("messages", .number("2"))])]), "\(stats)")
        #expect(stats["oldest_id_kept"] == .number("1") && stats["newest_id"] == .number("5") && stats["hours"] == .number("1"), "\(stats)")
        let statsText = try pgrelay(["stats", "--hours", "1"], db).stdout
        #expect(statsText.contains("connections   3\n") && statsText.contains("public.orders  3") && statsText.contains("room:1   2"), "\(statsText)")
        let subscriptions = try json(["subscriptions"], db).arrayValue ?? []
        #expect(
            subscriptions.count == 1 && subscriptions.first?["changes_last_hour"] == .number("3") && subscriptions.first?["condition"] == .null,
            "\(subscriptions)")

        // Relay 0 dies without a word: gone once its expiry (3 s) has passed since its last
        // heartbeat. The deadline is the test's, not a measure: a wall-clock bound failed on a
        // CI machine running the whole suite on two cores.
        relays[0].signal(SIGKILL)
        _ = relays[0].wait()
        let killed = relayIDs[String(ports[0])] ?? "?"
        try await waitUntil(timeout: 30, "the killed relay to show as gone") {
            try json(["status"], db)["relays"]?.arrayValue?.first { $0["id"] == .string(killed) }?["state"] == .string("gone")
        }
        let afterKill = try json(["status"], db)
        #expect(afterKill["live_relays"] == .number("1") && afterKill["healthy"] == .bool(true), "\(afterKill)")
        let dry = try json(["cleanup", "--dry-run"], db)
        #expect(
            dry["dry_run"] == .bool(true) && dry["relays"] == .number("1") && dry["connections"] == .number("1") && dry["changes"] == .number("0"),
            "\(dry)")
        #expect(try json(["status"], db)["relays"]?.arrayValue?.count == 2, "a dry run removes nothing")
        let cleaned = try pgrelay(["cleanup"], db)
        #expect(
            cleaned.stdout.contains(
                "gone relays        1      no heartbeat within their expiry\ntheir connections  1      published by relays that are gone"),
            "\(cleaned.stdout)")
        #expect(try json(["status"], db)["relays"]?.arrayValue?.map { $0["id"] } == [.string(relayIDs[String(ports[1])] ?? "?")])
        #expect(try json(["connections"], db).arrayValue?.count == 2)

        // No relay at all: status says so and exits 2.
        relays[1].signal(SIGTERM)
        _ = relays[1].wait()
        let none = try pgrelay(["status"], db)
        #expect(none.status == 2 && none.stdout.contains("status          no relay is live (run pgrelay serve)"), "\(none)")
    }
}
