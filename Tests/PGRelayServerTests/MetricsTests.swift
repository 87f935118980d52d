import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct MetricsTests {
    @Test func metricsCountChangesDeliveriesReplayAndReconnects() async throws {
        let db = try await ordersDatabase()
        try await db.execute("insert into orders values (1, 'open', 1)")
        try await TestServer.with(db) { server in
            let stream = Task { try await server.stream("/v1/stream/public.orders?since=0", count: 3) }
            try await server.waitForHealth { $0["subscribers"] == .number("1") }
            try await db.execute("insert into orders values (2, 'open', 2)")
            try await db.execute("insert into orders values (3, 'open', 3)")
            _ = try await stream.value
            try await db.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()")
            try await server.waitForHealth { $0["listener"] == .bool(true) }
            var text = ""
            let deadline = Date().addingTimeInterval(10)
            repeat {
                text = try await server.get("/metrics").body
                try await Task.sleep(for: .milliseconds(100))
            } while !text.contains("pgrelay_listener_reconnects_total 1") && Date() < deadline
            #expect(text.contains("pgrelay_changes_received_total 2"), "\(text)")
            #expect(text.contains(#"pgrelay_deliveries_total{transport="sse"} 3"#), "\(text)")
            #expect(text.contains("pgrelay_replay_reads_total 1"), "\(text)")
            #expect(text.contains("pgrelay_listener_reconnects_total 1"), "\(text)")
            // Latency is sampled once per page the listener reads: the two inserts make one or two.
            #expect(text.contains("pgrelay_delivery_latency_seconds_count 1") || text.contains("pgrelay_delivery_latency_seconds_count 2"), "\(text)")
        }
    }
}

extension MetricsTests {
    /// Per-table and per-channel-type counters, per-name only for configured channels, presence
    /// updates; `/health` says the version and uptime.
    @Test func countersByTableChannelTypeAndPresence() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "team", kind: .private))
        try await TestServer.with(db, configure: { $0.metricsChannelLabels = ["room:1"] }) { server in
            let port = server.port
            try await db.execute("insert into orders values (1, 'open', 1), (2, 'open', 2)")
            try await db.execute(#"select realtime.send('{"n":1}', 'e', 'room:1', false)"#)
            try await db.execute(#"select realtime.send('{"n":2}', 'e', 'room:1', false)"#)
            try await db.execute(#"select realtime.send('{"n":3}', 'e', 'team', true)"#)
            try await db.execute(#"select realtime.send('{"n":4}', 'e', 'elsewhere', false)"#)
            _ = try await Workers.value { () -> [String] in
                let probe = try WebSocketProbe(port: port, path: "/v1/ws")
                probe.send(text: #"{"type":"track","ref":"p1","channel":"room:1","user":"alice"}"#)
                probe.send(text: #"{"type":"untrack","ref":"p2","channel":"room:1"}"#)
                return probe.read(timeout: 30) { $0.messages.contains { $0.contains("untracked") } }.messages
            }
            var text = ""
            let deadline = Date().addingTimeInterval(30)
            repeat {
                text = try await server.get("/metrics").body
                if text.contains(#"pgrelay_channel_messages_total{type="topic"} 3"#) { break }
                try await Task.sleep(for: .milliseconds(100))
            } while Date() < deadline
            #expect(text.contains(#"pgrelay_channel_messages_total{type="topic"} 3"#), "\(text)")
            #expect(text.contains(#"pgrelay_table_changes_total{table="public.orders"} 2"#), "\(text)")
            #expect(text.contains(#"pgrelay_channel_messages_total{type="private"} 1"#), "\(text)")
            #expect(text.contains(#"pgrelay_channel_messages_by_name_total{channel="room:1"} 2"#), "\(text)")
            #expect(!text.contains(#"channel="elsewhere""#) && !text.contains(#"channel="team""#), "only configured names get a label: \(text)")
            #expect(text.contains("pgrelay_presence_updates_total 2"), "\(text)")
            let health = try JSONValue(parsing: try await server.get("/health").body)
            #expect(health["version"] == .string(PGRelayVersion.current) && Int(health["uptime_seconds"]?.jsonText ?? "") != nil, "\(health)")
        }
    }
}
