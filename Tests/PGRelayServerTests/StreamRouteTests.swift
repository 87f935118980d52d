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
        let db = try ordersDatabase()
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
        let stream = Task { try await server.stream("/v1/stream/public.orders?status=eq.paid&total=gt.100&events=INSERT,UPDATE", count: 2) }
        try await server.waitForHealth { $0["subscribers"] == .number("1") }
        try db.connection.execute("insert into orders values (1, 'paid', 50)")
        try db.connection.execute("insert into orders values (2, 'paid', 150)")
        try db.connection.execute("insert into orders values (3, 'open', 500)")
        try db.connection.execute("delete from orders where id = 2")
        try db.connection.execute("update orders set total = 101 where id = 1")
        let result = try await stream.value
        #expect(result.status == 200)
        #expect(result.contentType.hasPrefix("text/event-stream"))
        #expect(result.cacheControl.contains("no-cache") && result.accelBuffering == "no")
        #expect(result.retry == 2000)
        #expect(result.events.map { $0.change.new?["id"] } == [.number("2"), .number("1")])
        #expect(result.events.map(\.event) == ["INSERT", "UPDATE"])
        #expect(result.events.allSatisfy { $0.id == $0.change.id })
    }

    @Test func idleStreamsGetKeepAliveComments() async throws {
        let db = try ordersDatabase()
        let server = try await TestServer.start(db) { $0.keepAliveSeconds = 0.2 }
        defer { Task { await server.stop() } }
        let result = try await server.stream("/v1/stream/public.orders", count: 1, timeout: 1.5)
        #expect(result.events.isEmpty)
        #expect(result.comments.filter { $0 == "keep-alive" }.count >= 2, "\(result.raw)")
    }

    @Test func lastEventIDReplaysWhatWasMissedThenGoesLive() async throws {
        let db = try ordersDatabase()
        for i in 1...5 { try db.connection.execute("insert into orders values (\(i), 'open', \(i))") }
        let ids = try db.log.read(after: 0).map(\.id)
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
        let stream = Task { try await server.stream("/v1/stream/orders", lastEventID: ids[1], count: 4) }
        try await server.waitForHealth { $0["subscribers"] == .number("1") }
        try db.connection.execute("insert into orders values (6, 'open', 6)")
        let result = try await stream.value
        #expect(result.events.map { $0.change.new?["id"] } == [3, 4, 5, 6].map { .number(String($0)) })
        // `since` works the same for clients that cannot set headers.
        let page = try await server.stream("/v1/stream/orders?since=\(ids[3])", count: 2)
        #expect(page.events.map { $0.change.new?["id"] } == [.number("5"), .number("6")])
    }

    /// Clients reconnect again and again with Last-Event-ID or since while changes are written
    /// continuously; each must see a gap-free, duplicate-free sequence for its filter.
    @Test func resumingWhileWritingLosesNothing() async throws {
        let db = try ordersDatabase()
        let server = try await TestServer.start(db) { $0.keepAliveSeconds = 0.2 }
        defer { Task { await server.stop() } }
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

    /// Reads `expected` rows' `id` column in short connections of a few events each, resuming after the last change id seen.
    static func readInPieces(_ server: TestServer, path: String, useHeader: Bool, expected: Int) async throws -> [Int64] {
        var rows: [Int64] = []
        var lastID: Int64 = 0
        var connections = 0
        while rows.count < expected {
            connections += 1
            let separator = path.contains("?") ? "&" : "?"
            let result = useHeader
                ? try await server.stream(path + (lastID == 0 ? "\(separator)since=0" : ""), lastEventID: lastID == 0 ? nil : lastID, count: 7, timeout: 5)
                : try await server.stream(path + "\(separator)since=\(lastID)", count: 7, timeout: 5)
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
        let db = try ordersDatabase()
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
        let response = try await server.get(path)
        #expect(response.status == status, "\(path): \(response.body)")
        #expect(response.body.contains(message), "\(path): \(response.body)")
        // The server is still fine.
        #expect(try await server.get("/health").status == 200)
    }

    @Test func changesPagesFollowSinceLimitAndFilters() async throws {
        let db = try ordersDatabase()
        for i in 1...10 { try db.connection.execute("insert into orders values (\(i), '\(i % 2 == 0 ? "paid" : "open")', \(i * 10))") }
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
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
        let newest = try db.log.newestID()
        #expect(second["next_since"] == .number(String(newest)))
    }

    @Test func healthReportsDatabaseListenerLagAndSubscribers() async throws {
        let db = try ordersDatabase()
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
        try db.connection.execute("insert into orders values (1, 'open', 1)")
        let newest = try db.log.newestID()
        try await server.waitForHealth { $0["delivered_id"] == .number(String(newest)) }
        let response = try await server.get("/health")
        let health = try JSONValue(parsing: response.body)
        #expect(response.status == 200)
        #expect(health["status"] == .string("ok") && health["database"] == .bool(true) && health["listener"] == .bool(true))
        #expect(health["newest_id"] == .number(String(newest)) && health["lag"] == .number("0") && health["subscribers"] == .number("0"))
    }

    @Test func refusesToServeBeyondLoopbackWithoutAuth() async throws {
        var configuration = ServeConfiguration(conninfo: "")
        configuration.host = "0.0.0.0"
        await #expect { _ = try await buildApplication(configuration) } throws: { "\($0)".contains("--insecure-no-auth") }
        configuration.insecureNoAuth = true
        _ = try await buildApplication(configuration)
    }
}

@Suite struct HubTests {
    let orders = TableName(schema: "public", name: "orders")

    func change(_ id: Int64, status: String, operation: PGRelayCore.Operation = .insert) -> ChangeEvent {
        ChangeEvent(id: id, timestamp: "T", operation: operation, table: orders, new: .object([("status", .string(status))]), old: nil)
    }

    /// A subscriber that stops reading is closed once its queue is full; the others get everything.
    @Test func aSlowSubscriberIsClosedWithoutHurtingOthers() async throws {
        let hub = Hub(queueLimit: 3)
        let slow = hub.subscribe(table: orders, request: StreamRequest())
        let fast = hub.subscribe(table: orders, request: StreamRequest())
        var received: [Int64] = []
        for id in 1...10 {
            hub.publish(change(Int64(id), status: "x"))
            for await message in fast.messages {
                if case .change(let shared) = message { received.append(shared.event.id) }
                break
            }
        }
        #expect(received == Array(1...10))
        #expect(slow.closedAsSlow && !fast.closedAsSlow)
        var queued: [Int64] = []
        for await message in slow.messages { if case .change(let shared) = message { queued.append(shared.event.id) } }
        #expect(queued == [1, 2, 3])
        #expect(hub.subscriberCount == 1)
    }

    @Test func matchesTableEventsAndFilterAndSharesEncodings() async throws {
        let hub = Hub()
        let paid = hub.subscribe(table: orders, request: try StreamRequest(query: "status=eq.paid&events=INSERT"))
        let other = hub.subscribe(table: TableName(schema: "public", name: "items"), request: StreamRequest())
        hub.publish(change(1, status: "open"))
        hub.publish(change(2, status: "paid", operation: .update))
        hub.publish(change(3, status: "paid"))
        hub.closeAll()
        var ids: [Int64] = []
        for await message in paid.messages { if case .change(let shared) = message { ids.append(shared.event.id) } }
        #expect(ids == [3])
        var none = 0
        for await _ in other.messages { none += 1 }
        #expect(none == 0)
    }
}

@Suite struct RestartTests {
    /// The daemon restarts mid-stream; clients resume on the new one with Last-Event-ID and lose nothing.
    @Test func clientsResumeAcrossADaemonRestart() async throws {
        let db = try ordersDatabase()
        let first = try await TestServer.start(db)
        let before = Task { try await first.stream("/v1/stream/public.orders", count: 3) }
        try await first.waitForHealth { $0["subscribers"] == .number("1") }
        for i in 1...3 { try db.connection.execute("insert into orders values (\(i), 'open', \(i))") }
        let seen = try await before.value
        await first.stop()
        // Written while no daemon runs.
        for i in 4...6 { try db.connection.execute("insert into orders values (\(i), 'open', \(i))") }
        let second = try await TestServer.start(db)
        defer { Task { await second.stop() } }
        let after = Task { try await second.stream("/v1/stream/public.orders", lastEventID: seen.ids.last!, count: 5) }
        try await second.waitForHealth { $0["subscribers"] == .number("1") }
        for i in 7...8 { try db.connection.execute("insert into orders values (\(i), 'open', \(i))") }
        let resumed = try await after.value
        let rows = (seen.events + resumed.events).map { $0.change.new?["id"] }
        #expect(rows == (1...8).map { .number(String($0)) })
    }
}

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
        #expect(text.contains("pgrelay_delivery_latency_seconds_count 2"), "\(text)")
        #expect(text.contains("pgrelay_slow_consumer_disconnects_total 0"), "\(text)")
    }
}

@Suite struct SlowConsumerTests {
    /// One client stops reading: once its queue overflows it is closed with the id to resume
    /// from, while another client on the same table receives every change.
    @Test func aStalledClientIsClosedAndOthersGetEverything() async throws {
        let db = try TestDatabase()
        try db.connection.execute("create table blobs (id int primary key, body text)")
        try db.installer.subscribe(TableName(schema: "public", name: "blobs"))
        let server = try await TestServer.start(db) { $0.queueLimit = 5 }
        defer { Task { await server.stop() } }
        // A raw socket that sends the request and then reads nothing.
        let stalled = try StalledClient(port: server.port, path: "/v1/stream/public.blobs")
        let total = 120
        // A reading client; like EventSource, it reconnects with Last-Event-ID when closed.
        let fast = Task {
            var rows: [Int64] = []
            var lastID: Int64? = nil
            for _ in 0..<50 where rows.count < total {
                let result = try await server.stream("/v1/stream/public.blobs", lastEventID: lastID, count: total - rows.count, timeout: 10)
                rows += result.events.map(\.id)
                lastID = rows.last ?? lastID
            }
            return rows
        }
        try await server.waitForHealth { $0["subscribers"] == .number("2") }
        let writer = try db.connect()
        for i in 1...total { try writer.execute("insert into blobs values (\(i), repeat('x', 200000))") }
        let rows = try await fast.value
        let all = try db.log.read(after: 0, limit: 1000).map(\.id)
        #expect(rows == all)
        let metrics = try await server.get("/metrics").body
        #expect(!metrics.contains("pgrelay_slow_consumer_disconnects_total 0"), "\(metrics)")
        // What the stalled client finally reads ends with where to resume.
        let received = stalled.drain()
        #expect(received.contains("closed: too slow; reconnect with Last-Event-ID"), "\(received.suffix(300))")
    }
}

/// Connects, sends one GET, and reads nothing until asked to drain.
final class StalledClient {
    let fd: Int32

    init(port: Int, path: String) throws {
        // A small receive buffer, so that the server's writes back up soon.
        fd = try connectTCP(port: port, receiveBuffer: 4096)
        try sendAll(fd, "GET \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n")
    }

    /// Reads until the server closes the connection (or 30 s pass).
    func drain() -> String {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    deinit { close(fd) }
}

@Suite struct FilterOperatorIntegrationTests {
    /// Every operator through a real server, on rows typed by Postgres (numeric, text, boolean, null).
    @Test func everyOperatorFiltersRealRows() async throws {
        let db = try TestDatabase()
        try db.connection.execute("create table items (id int primary key, name text, price numeric, active boolean, note text)")
        try db.installer.subscribe(TableName(schema: "public", name: "items"))
        try db.connection.execute("insert into items values (1, 'Apple', 9.5, true, null)")
        try db.connection.execute("insert into items values (2, 'banana', 10, false, 'ripe')")
        try db.connection.execute("insert into items values (3, 'Cherry pie', 100, true, 'a,b')")
        let server = try await TestServer.start(db)
        defer { Task { await server.stop() } }
        let cases: [(String, [Int])] = [
            ("id=eq.2", [2]), ("id=neq.2", [1, 3]), ("price=gt.9.5", [2, 3]), ("price=gte.9.5", [1, 2, 3]),
            ("price=lt.10", [1]), ("price=lte.10", [1, 2]), ("name=like.*an*", [2]), ("name=ilike.c*", [3]),
            ("note=in.(ripe,\"a,b\")", [2, 3]), ("note=is.null", [1]), ("active=is.true", [1, 3]), ("active=is.false", [2]),
            ("note=not.is.null", [2, 3]), ("id=not.in.(1,2)", [3]), ("or=(id.eq.1,price.gt.50)", [1, 3]),
            ("or=(name.eq.banana,and(active.is.true,price.lt.50))", [1, 2]), ("active=is.true&price=gt.50", [3]),
            ("name=eq.Cherry%20pie", [3]), ("price=gt.9.99", [2, 3]),
        ]
        for (filter, expected) in cases {
            let body = try await server.get("/v1/changes/public.items?\(filter)").body
            guard case .array(let changes)? = try JSONValue(parsing: body)["changes"] else {
                Issue.record("\(filter): \(body)")
                continue
            }
            #expect(changes.map { $0["new"]?["id"] } == expected.map { .number(String($0)) }, "\(filter)")
        }
    }
}

@Suite struct UnhealthyTests {
    @Test func healthIs503WhenTheDatabaseIsUnreachable() async throws {
        var configuration = ServeConfiguration(conninfo: "host=/nonexistent port=1 dbname=nowhere connect_timeout=2")
        configuration.port = 0
        let bound = PortBox()
        var logger = Logger(label: "pgrelay.test")
        logger.logLevel = .critical
        let app = try await buildApplication(configuration, logger: logger) { port in bound.set(port) }
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        try await waitUntil("the server to listen") { bound.value != nil }
        let response = try await TestServer.client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(bound.value!)/health"), timeout: .seconds(10))
        let body = try JSONValue(parsing: String(buffer: try await response.body.collect(upTo: 1 << 20)))
        #expect(response.status.code == 503)
        #expect(body["status"] == .string("unhealthy") && body["database"] == .bool(false) && body["listener"] == .bool(false))
        #expect(body["error"]?.stringValue?.contains("host=/nonexistent") == true)
    }
}
