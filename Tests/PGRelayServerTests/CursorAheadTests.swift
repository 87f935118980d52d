import Foundation
import HummingbirdWSClient
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// A cursor after the newest id the log has numbered (`since`, `Last-Event-ID`) was never handed
/// out by this database: every surface refuses it with 409 and where to resume, instead of
/// answering `live` and then waiting for ids that belong to other changes.
@Suite struct CursorAheadTests {
    @Test func everySurfaceRefusesACursorTheLogNeverIssued() async throws {
        let db = try await ordersDatabase()
        for id in 1...3 { try await db.execute("insert into orders values (\(id), 'paid', \(id))") }
        try await db.execute(#"select realtime.send('{"n":1}', 'note', 'room:1', false)"#)
        let newest = try db.ticked().newestID()
        try await TestServer.with(db) { server in
            let ahead = newest + 1_000
            func expectRefused(_ answer: (status: Int, headers: [String: String], body: String), _ what: String) throws {
                #expect(answer.status == 409, "\(what): \(answer.status) \(answer.body)")
                let body = try JSONValue(parsing: answer.body)
                #expect(body["newest_id"] == .number(String(newest)) && body["since"] == .number(String(newest)), "\(what): \(answer.body)")
                #expect(body["error"]?.stringValue?.contains("since=\(ahead) is after the newest change") == true, "\(what): \(answer.body)")
            }
            try expectRefused(try await server.get("/v1/changes/public.orders?since=\(ahead)"), "page")
            try expectRefused(try await server.get("/v1/stream/public.orders", headers: [("Last-Event-ID", String(ahead))]), "SSE Last-Event-ID")
            try expectRefused(try await server.get("/v1/stream/public.orders?since=\(ahead)"), "SSE since")
            try expectRefused(try await server.get("/v1/channels/room:1/stream?since=\(ahead)"), "channel stream")
            try expectRefused(try await server.get("/v1/channels/room:1/messages?since=\(ahead)"), "channel messages")
            // At the newest id, or before it, the cursor is served.
            let page = try await server.get("/v1/changes/public.orders?since=\(newest)")
            #expect(page.status == 200 && page.body.contains(#""changes":[]"#), "\(page)")

            // The native socket: an error for that subscription, with where to resume; the socket stays.
            var logger = Logger(label: "ws.test")
            logger.logLevel = .critical
            let inbox = WebSocketRouteTests.Inbox()
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws", logger: logger) { inbound, outbound, _ in
                try await readingTexts(inbound, onText: inbox.add) {
                    try await outbound.write(.text(#"{"type":"subscribe","id":"t","table":"public.orders","since":\#(ahead)}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"c","channel":"room:1","since":\#(ahead)}"#))
                    try await outbound.write(.text(#"{"type":"ping"}"#))
                    _ = try await inbox.wait {
                        $0.filter { $0["type"] == .string("error") }.count == 2 && $0.contains { $0["type"] == .string("pong") }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            for id in ["t", "c"] {
                let error = inbox.all.first { $0["type"] == .string("error") && $0["id"] == .string(id) }
                #expect(error?["newest_id"] == .number(String(newest)) && error?["since"] == .number(String(newest)), "\(inbox.all)")
                #expect(error?["message"]?.stringValue?.contains("was not handed out here") == true, "\(inbox.all)")
            }
            #expect(!inbox.all.contains { $0["type"] == .string("subscribed") }, "\(inbox.all)")

            // The CLI.
            let listen = try await Workers.value {
                try Subprocess.run(
                    BuiltExecutable.pgrelay.path, ["listen", "public.orders", "--since", String(ahead), "--seconds", "20"],
                    environment: ProcessInfo.processInfo.environment.merging(["DATABASE_URL": db.conninfo]) { $1 })
            }
            #expect(listen.status != 0 && listen.stderr.contains("was not handed out here"), "\(listen.stderr)")
            let replay = try await Workers.value {
                try Subprocess.run(
                    BuiltExecutable.pgrelay.path, ["replay", "public.orders", "--since", String(ahead)],
                    environment: ProcessInfo.processInfo.environment.merging(["DATABASE_URL": db.conninfo]) { $1 })
            }
            #expect(replay.status != 0 && replay.stderr.contains("was not handed out here"), "\(replay.stderr)")
        }
    }
}
