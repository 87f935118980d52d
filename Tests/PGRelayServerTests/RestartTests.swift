import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct RestartTests {
    /// The daemon restarts mid-stream; clients resume on the new one with Last-Event-ID and lose nothing.
    @Test func clientsResumeAcrossADaemonRestart() async throws {
        let db = try await ordersDatabase()
        let first = try await TestServer.start(db)
        let before = Task { try await first.stream("/v1/stream/public.orders", count: 3) }
        try await first.waitForHealth { $0["subscribers"] == .number("1") }
        for i in 1...3 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
        let seen = try await before.value
        await first.stop()
        // Written while no daemon runs.
        for i in 4...6 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
        try await TestServer.with(db) { second in
            let after = Task { try await second.stream("/v1/stream/public.orders", lastEventID: seen.ids.last!, count: 5) }
            try await second.waitForHealth { $0["subscribers"] == .number("1") }
            for i in 7...8 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
            let resumed = try await after.value
            let rows = (seen.events + resumed.events).map { $0.change.new?["id"] }
            #expect(rows == (1...8).map { .number(String($0)) })
        }
    }
}
