import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct StreamRouteTests {
    let orders = TableName(schema: "public", name: "orders")

    @Test func streamsFilteredChangesWithProxyFriendlyHeaders() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { server in
            let stream = Task { try await server.stream("/v1/stream/public.orders?status=eq.paid&total=gt.100&events=INSERT,UPDATE", count: 2) }
            try await server.waitForHealth { $0["subscribers"] == .number("1") }
            try await db.execute("insert into orders values (1, 'paid', 50)")
            try await db.execute("insert into orders values (2, 'paid', 150)")
            try await db.execute("insert into orders values (3, 'open', 500)")
            try await db.execute("delete from orders where id = 2")
            try await db.execute("update orders set total = 101 where id = 1")
            let result = try await stream.value
            #expect(result.status == 200)
            #expect(result.contentType.hasPrefix("text/event-stream"))
            #expect(result.cacheControl.contains("no-cache") && result.accelBuffering == "no")
            #expect(result.retry == 2000)
            #expect(result.events.map { $0.change.new?["id"] } == [.number("2"), .number("1")])
            // Row 1's UPDATE brought it into the filter: the stream sees it arrive, as an INSERT.
            #expect(result.events.map(\.event) == ["INSERT", "INSERT"])
            #expect(result.events.allSatisfy { $0.id == $0.change.id })
        }
    }

    @Test func idleStreamsGetKeepAliveComments() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.keepAliveSeconds = 0.2 }) { server in
            let result = try await server.stream("/v1/stream/public.orders", count: 1, timeout: 30) { sofar in
                sofar.comments.filter { $0 == "keep-alive" }.count >= 2
            }
            #expect(result.events.isEmpty)
            #expect(result.comments.filter { $0 == "keep-alive" }.count >= 2, "\(result.raw)")
        }
    }

    @Test func lastEventIDReplaysWhatWasMissedThenGoesLive() async throws {
        let db = try await ordersDatabase()
        for i in 1...5 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
        let ids = try db.ticked().read(after: 0).map(\.id)
        try await TestServer.with(db) { server in
            let stream = Task { try await server.stream("/v1/stream/orders", lastEventID: ids[1], count: 4) }
            try await server.waitForHealth { $0["subscribers"] == .number("1") }
            try await db.execute("insert into orders values (6, 'open', 6)")
            let result = try await stream.value
            #expect(result.events.map { $0.change.new?["id"] } == [3, 4, 5, 6].map { .number(String($0)) })
            // `since` works the same for clients that cannot set headers.
            let page = try await server.stream("/v1/stream/orders?since=\(ids[3])", count: 2)
            #expect(page.events.map { $0.change.new?["id"] } == [.number("5"), .number("6")])
        }
    }

    /// Clients reconnect again and again with Last-Event-ID or since while changes are written
    /// continuously; each must see a gap-free, duplicate-free sequence for its filter.
    @Test func resumingWhileWritingLosesNothing() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.keepAliveSeconds = 0.2 }) { server in
            let total = 300
            let writer = Task.detached {
                let connection = try db.connect()
                for i in 1...total {
                    try connection.execute("insert into orders values (\(i), '\(i % 3 == 0 ? "paid" : "open")', \(i))")
                    if i % 10 == 0 { try await Task.sleep(for: .milliseconds(15)) }
                }
            }
            async let all = Self.readInPieces(server, path: "/v1/stream/public.orders", useHeader: true, expected: total)
            async let paid = Self.readInPieces(server, path: "/v1/stream/public.orders?status=eq.paid", useHeader: false, expected: total / 3)
            let (allIDs, paidIDs) = try await (all, paid)
            try await writer.value
            let everyRow: [Int64] = (1...Int64(total)).map { $0 }
            let paidRows: [Int64] = everyRow.filter { $0 % 3 == 0 }
            #expect(allIDs == everyRow)
            #expect(paidIDs == paidRows)
        }
    }

    /// Reads `expected` rows' `id` column in short connections of a few events each, resuming after the last change id seen.
    static func readInPieces(_ server: TestServer, path: String, useHeader: Bool, expected: Int) async throws -> [Int64] {
        var rows: [Int64] = []
        var lastID: Int64 = 0
        var connections = 0
        while rows.count < expected {
            connections += 1
            let separator = path.contains("?") ? "&" : "?"
            let result =
                useHeader
                ? try await server.stream(
                    path + (lastID == 0 ? "\(separator)since=0" : ""), lastEventID: lastID == 0 ? nil : lastID, count: 7, timeout: 20)
                : try await server.stream(path + "\(separator)since=\(lastID)", count: 7, timeout: 20)
            for event in result.events {
                if case .number(let n)? = event.change.new?["id"] { rows.append(Int64(n)!) }
                lastID = event.id
            }
            if connections > expected { break }
        }
        return rows
    }

    @Test(arguments: [
        ("/v1/stream/public.orders?status=eqq.paid", 400, "unknown operator 'eqq'"),
        ("/v1/stream/public.orders?or=(status.eq.paid", 400, "missing ')'"),
        ("/v1/stream/public.orders?events=INSERT,UPSERT", 400, "unknown event 'UPSERT'"),
        ("/v1/stream/public.orders?since=abc", 400, "since must be a change id"),
        ("/v1/stream/a.b.c", 400, "does not parse"),
        ("/v1/stream/public.nope", 404, "table public.nope does not exist"),
        ("/v1/changes/public.orders?limit=0", 400, "limit must be a positive integer"),
        ("/v1/changes/public.orders?total=gt", 400, "expected '.' and a value"),
    ])
    func badInputGetsAClearError(_ path: String, _ status: Int, _ message: String) async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { server in
            let response = try await server.get(path)
            #expect(response.status == status, "\(path): \(response.body)")
            #expect(response.body.contains(message), "\(path): \(response.body)")
            // The server is still fine.
            #expect(try await server.get("/health").status == 200)
        }
    }

    @Test func changesPagesFollowSinceLimitAndFilters() async throws {
        let db = try await ordersDatabase()
        for i in 1...10 { try await db.execute("insert into orders values (\(i), '\(i % 2 == 0 ? "paid" : "open")', \(i * 10))") }
        try await TestServer.with(db) { server in
            let first = try JSONValue(parsing: try await server.get("/v1/changes/public.orders?status=eq.paid&limit=3").body)
            guard case .array(let changes)? = first["changes"] else {
                Issue.record("no changes array: \(first.jsonText)")
                return
            }
            #expect(changes.map { $0["new"]?["id"] } == [.number("2"), .number("4"), .number("6")])
            #expect(first["has_more"] == .bool(true))
            guard case .number(let next)? = first["next_since"] else { return }
            let second = try JSONValue(parsing: try await server.get("/v1/changes/public.orders?status=eq.paid&limit=3&since=\(next)").body)
            guard case .array(let rest)? = second["changes"] else { return }
            #expect(rest.map { $0["new"]?["id"] } == [.number("8"), .number("10")])
            #expect(second["has_more"] == .bool(false))
            let newest = try db.ticked().newestID()
            #expect(second["next_since"] == .number(String(newest)))
        }
    }

    @Test func healthReportsDatabaseListenerLagAndSubscribers() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { server in
            try await db.execute("insert into orders values (1, 'open', 1)")
            let newest = try db.ticked().newestID()
            try await server.waitForHealth { $0["delivered_id"] == .number(String(newest)) }
            let response = try await server.get("/health")
            let health = try JSONValue(parsing: response.body)
            #expect(response.status == 200)
            #expect(health["status"] == .string("ok") && health["database"] == .bool(true) && health["listener"] == .bool(true))
            #expect(health["newest_id"] == .number(String(newest)) && health["lag"] == .number("0") && health["subscribers"] == .number("0"))
        }
    }

    @Test func refusesToServeBeyondLoopbackWithoutAuth() async throws {
        var configuration = ServeConfiguration(conninfo: "")
        configuration.host = "0.0.0.0"
        await #expect { _ = try await buildApplication(configuration) } throws: { "\($0)".contains("--insecure-no-auth") }
        configuration.insecureNoAuth = true
        _ = try await buildApplication(configuration)
    }
}
