import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Frames too large either way on the Supabase socket: a client frame over `limits.message_bytes`
/// is answered and dropped, the socket and its other channels going on; one over 1 MiB closes
/// the socket (1009); a change over the clients' 1 MiB goes out as the reference server's
/// `Error 413` without its long values, and the changes after it still come.
@Suite struct SupabaseFrameLimitTests {
    @Test(.timeLimit(.minutes(2))) func oversizedFramesEitherWay() async throws {
        let db = try await ordersDatabase()
        // Client frames over 64 KiB are refused (limits.message_bytes plus the envelope's 8 KiB, at least 64 KiB).
        try await TestServer.with(db, configure: { $0.limits.messageBytes = 16 * 1024 }) { server in
            let port = server.port
            let conninfo = db.conninfo
            let seen = try await Workers.value { () -> [String] in
                let probe = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?vsn=1.0.0")
                probe.send(
                    text:
                        #"{"topic":"realtime:db","event":"phx_join","payload":{"config":{"broadcast":{"ack":true},"postgres_changes":[{"event":"*","schema":"public","table":"orders"}]}},"ref":"1","join_ref":"1"}"#
                )
                probe.read(timeout: 30) { $0.messages.contains { $0.contains("Subscribed to PostgreSQL") } }
                let big = String(repeating: "x", count: 100 * 1024)
                probe.send(
                    text:
                        #"{"topic":"realtime:db","event":"broadcast","payload":{"type":"broadcast","event":"big","payload":{"text":"\#(big)"}},"ref":"2","join_ref":"1"}"#
                )
                probe.send(text: #"{"topic":"phoenix","event":"heartbeat","payload":{"pad":"\#(big)"},"ref":"3"}"#)
                let writer = try Connection(conninfo: conninfo)
                try writer.execute("insert into orders values (1, repeat('y', 1100000), 5)")
                try writer.execute("insert into orders values (2, 'small', 6)")
                probe.send(text: #"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"4"}"#)
                return probe.read(timeout: 30) { seen in
                    seen.messages.contains { $0.contains(#""ref":"4""#) } && seen.messages.contains { $0.contains(#""status":"small""#) }
                }.messages
            }
            #expect(
                seen.contains { $0.contains(#""ref":"2""#) && $0.contains("PayloadTooLarge: this frame has") && $0.contains("limits.message_bytes") },
                "\(seen.map { $0.prefix(300) })")
            #expect(seen.contains { $0.contains(#""ref":"3""#) && $0.contains(#""status":"error""#) }, "\(seen.map { $0.prefix(300) })")
            let large = try #require(seen.first { $0.contains("Error 413") }.map { try JSONValue(parsing: $0) }, "\(seen.map { $0.prefix(300) })")
            #expect(large["payload"]?["data"]?["record"] == .object([("id", .number("1")), ("total", .number("5"))]), "\(large)")
            #expect(
                large["payload"]?["data"]?["errors"] == .array([.string("Error 413: Payload Too Large")])
                    && large["payload"]?["data"]?["columns"]?.arrayValue?.count == 3, "\(large)")
            #expect(seen.allSatisfy { $0.utf8.count <= 1 << 20 })

            // Over 1 MiB: the socket closes with 1009; the relay goes on.
            let closed = try await Workers.value { () -> WebSocketProbe.Seen in
                let probe = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?vsn=1.0.0")
                probe.send(text: #"{"topic":"phoenix","event":"heartbeat","payload":{"pad":"\#(String(repeating: "z", count: 1 << 20))"},"ref":"1"}"#)
                return probe.read(timeout: 30) { $0.closed }
            }
            #expect(closed.closeCode == 1009, "\(closed)")
            #expect(try await server.get("/health").status == 200)
        }
    }
}
