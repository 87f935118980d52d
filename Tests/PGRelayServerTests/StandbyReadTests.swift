import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// `serve --read-url`: a relay that reads ticks and the log from a real streaming standby
/// (`pg_basebackup -R`) delivers exactly the primary's changes, in order, with the primary's ids.
@Suite struct StandbyReadTests {
    /// Runs `body` with a primary (pgrelay installed, `orders` subscribed) and its standby.
    func withPair(_ body: (StandbyPair, TestDatabase) async throws -> Void) async throws {
        try await StandbyPair.with(preparingPrimary: { db in
            try db.connection.execute("create table orders (id int primary key, status text, total numeric)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        }) { pair, db in
            try await body(pair, db)
        }
    }

    /// The ids of every change in the primary's log, in order.
    func primaryIDs(_ db: TestDatabase) async throws -> [Int64] {
        try await Workers.value { try db.ticked().read(after: 0, limit: 100_000).map(\.id) }
    }

    @Test(.timeLimit(.minutes(4)))
    func deliversThePrimarysChangesInOrderAcrossAStandbyRestart() async throws {
        try await withPair { pair, db in
            try await TestServer.with(db, configure: { $0.readConninfo = pair.standbyConninfo }) { server in
                try await server.waitForHealth { ($0["reads"]?["from"]) == .string("standby") }
                let total = 300
                let stream = Task { try await server.stream("/v1/stream/public.orders", count: total, timeout: 180) }
                try await server.waitForHealth { $0["subscribers"] == .number("1") }
                // Writes run all along: before, during and after the standby's 10 s away.
                let conninfo = db.conninfo
                let writes = Task {
                    try await Workers.value {
                        let writer = try Connection(conninfo: conninfo)
                        for i in 1...total {
                            try writer.execute("insert into orders values (\(i), 'open', \(i))")
                            Thread.sleep(forTimeInterval: 0.05)
                        }
                    }
                }
                try await waitUntil("the first writes to be delivered") {
                    (try? db.connection.query("select count(*) from orders").first?[0]).flatMap { $0.flatMap(Int.init) } ?? 0 >= 50
                }
                try await Workers.value { try pair.stopStandby() }
                // While the standby is away the relay waits for it and says so; it reads nothing from the primary's log.
                try await server.waitForHealth { $0["status"] == .string("unhealthy") && ($0["error"]?.stringValue ?? "").contains("read server") }
                try await Task.sleep(for: .seconds(10))
                try await Workers.value { try pair.startStandby() }
                try await writes.value
                let seen = try await stream.value
                let expected = try await primaryIDs(db)
                #expect(expected.count == total)
                #expect(seen.ids == expected)
                #expect(seen.events.map { $0.change.new?["id"] } == (1...total).map { .number(String($0)) })
                try await server.waitForHealth { $0["status"] == .string("ok") && $0["reads"]?["lag_ids"] == .number("0") }
            }
        }
    }

    @Test(.timeLimit(.minutes(4)))
    func aLaggingStandbyMakesTheRelayLateNeverWrongAndAPromotedOneIsNotRead() async throws {
        try await withPair { pair, db in
            try await TestServer.with(
                db,
                configure: {
                    $0.readConninfo = pair.standbyConninfo
                    $0.readMaxLagSeconds = 1
                }
            ) { server in
                try await server.waitForHealth { ($0["reads"]?["from"]) == .string("standby") }
                let stream = Task { try await server.stream("/v1/stream/public.orders", count: 15, timeout: 180) }
                try await server.waitForHealth { $0["subscribers"] == .number("1") }
                for i in 1...5 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
                try await server.waitForHealth { $0["delivered_id"] == .number("5") }

                // Far behind: the standby stops replaying. The relay delivers nothing it has not replayed,
                // and /health turns 503 once the lag passes database.read_max_lag_seconds.
                let standby = try Connection(conninfo: pair.standbyConninfo)
                try standby.execute("select pg_wal_replay_pause()")
                for i in 6...10 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
                try await server.waitForHealth {
                    $0["status"] == .string("unhealthy") && $0["reads"]?["lag_ids"] == .number("5")
                        && ($0["error"]?.stringValue ?? "").contains("standby lacks 5 changes")
                }
                let health = try await server.health()
                #expect(health["delivered_id"] == .number("5"))
                // Catch-up pages come from the standby too: they end where it is.
                let page = try JSONValue(parsing: try await server.get("/v1/changes/public.orders?since=0").body)
                #expect(page["changes"]?.arrayValue?.count == 5)
                try standby.execute("select pg_wal_replay_resume()")
                try await server.waitForHealth { $0["status"] == .string("ok") && $0["delivered_id"] == .number("10") }

                // Promoted: the standby leaves recovery and takes writes of its own, another history.
                // The relay stops reading it and reads the primary; the other history never reaches a client.
                try await Workers.value { try pair.promoteStandby() }
                let promoted = try Connection(conninfo: pair.standbyConninfo)
                try promoted.execute("insert into orders values (100, 'forked', 0)")
                try Ticker(connection: promoted).tick()
                for i in 11...15 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
                let seen = try await stream.value
                #expect(seen.events.map { $0.change.new?["id"] } == (1...15).map { .number(String($0)) })
                #expect(seen.ids == (try await primaryIDs(db)))
                try await server.waitForHealth {
                    $0["reads"]?["from"] == .string("primary") && ($0["reads"]?["why"]?.stringValue ?? "").contains("promoted")
                        && $0["status"] == .string("ok")
                }
                let after = try JSONValue(parsing: try await server.get("/v1/changes/public.orders?since=0").body)
                #expect(after["changes"]?.arrayValue?.compactMap { $0["new"]?["id"] } == (1...15).map { .number(String($0)) })
            }
        }
    }
}
