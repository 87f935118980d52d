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
        let db = try ordersDatabase()
        try db.connection.execute("insert into orders values (1, 'open', 1)")
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
        let stream = Task { try await server.stream("/v1/stream/public.orders?since=0", count: 3) }
        try await server.waitForHealth { $0["subscribers"] == .number("1") }
        try db.connection.execute("insert into orders values (2, 'open', 2)")
        try db.connection.execute("insert into orders values (3, 'open', 3)")
        _ = try await stream.value
        try db.connection.execute("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()")
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
