import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

@Suite struct ListenerTests {
    let orders = TableName(schema: "public", name: "orders")

    /// The listener's backend is terminated again and again while a writer commits rows; the
    /// consumer must still see every row once, in id order.
    @Test func reconnectsAndCatchesUpWithoutGapOrDuplicate() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, pid) = try await startListener(db, tables: .only([orders]))
        let total = 600
        let writer = Task.detached {
            let connection = try db.connect()
            for i in 1...total {
                try connection.execute("insert into orders values (\(i), 'row \(i)')")
                if i % 50 == 0 { try await Task.sleep(for: .milliseconds(20)) }
            }
        }
        let killer = Task.detached {
            let admin = try db.connect()
            for _ in 0..<4 {
                try await Task.sleep(for: .milliseconds(150))
                if let backend = pid.value { try admin.query("select pg_terminate_backend($1)", [String(backend)]) }
            }
        }
        let events = try await collect(stream, count: total, timeout: 60)
        try await writer.value
        try await killer.value
        #expect(pid.connectCount >= 2, "the listener was never disconnected; the test proved nothing")
        #expect(events.map { $0.new?["id"] } == (1...total).map { .number(String($0)) })
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.id < $1.id })
    }

    @Test func startAfterReplaysTheLogThenGoesLive() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        try await db.execute("insert into orders values (1, 'a'), (2, 'b'); insert into orders values (3, 'c')")
        let first = try db.ticked().read(after: 0)
        #expect(first.count == 3)
        let (stream, _) = try await startListener(db, tables: .only([orders]), startAfter: first[0].id)
        try await db.execute("insert into orders values (4, 'd')")
        let events = try await collect(stream, count: 3)
        #expect(events.map { $0.new?["id"] } == [.number("2"), .number("3"), .number("4")])
    }

    @Test func picksUpNewSubscriptionsWithoutRestart() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .all)
        try await db.execute("insert into orders values (1, 'before')")
        let items = TableName(schema: "public", name: "items")
        try db.subscribedTable(items)
        try await db.execute("insert into items values (1, 'new table'); insert into orders values (2, 'after')")
        let events = try await collect(stream, count: 3)
        #expect(events.map(\.table) == [orders, items, orders])
    }

    /// A consumer that cannot keep up makes the listener fall back to the log, not lose or reorder.
    @Test func slowConsumerLosesNothing() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .only([orders]), bufferLimit: 5)
        try await db.execute("insert into orders select g, 'x' from generate_series(1, 50) g")
        for i in 51...120 { try await db.execute("insert into orders values (\(i), 'y')") }
        var events: [ChangeEvent] = []
        for try await event in stream {
            events.append(event)
            if events.count % 10 == 0 { try await Task.sleep(for: .milliseconds(30)) }
            if events.count == 120 { break }
        }
        #expect(events.map { $0.new?["id"] } == (1...120).map { .number(String($0)) })
    }

    @Test func ignoresForeignNotificationsOnItsChannel() async throws {
        let db = try TestDatabase()
        let subscription = try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .only([orders]))
        try db.connection.query("select pg_notify($1, 'not json at all')", [subscription.channel])
        try db.connection.query("select pg_notify($1, '{\"id\": 1}')", [subscription.channel])
        try await db.execute("insert into orders values (1, 'real')")
        let events = try await collect(stream, count: 1)
        #expect(events[0].new?["note"] == .string("real"))
    }

    @Test func rawNotificationsShowAnyChannelAsDelivered() async throws {
        let db = try TestDatabase(initialized: false)
        let stream = Listener.rawNotifications(conninfo: db.conninfo, channels: ["my own channel"])
        var iterator = stream.makeAsyncIterator()
        // LISTEN happens on the listener's thread; keep notifying until one arrives.
        let sender = Task.detached {
            let connection = try db.connect()
            for _ in 0..<100 {
                try connection.query("select pg_notify('my own channel', 'hello')")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let notification = try await iterator.next()
        sender.cancel()
        #expect(notification?.channel == "my own channel")
        #expect(notification?.payload == "hello")
        #expect((notification?.senderPID ?? 0) > 0)
    }

    @Test func failsClearlyForUnsubscribedTable() async throws {
        let db = try TestDatabase()
        try await db.execute("create table plain (id int)")
        let stream = Listener(.init(conninfo: db.conninfo, tables: .only([TableName(schema: "public", name: "plain")]))).events()
        await #expect {
            for try await _ in stream {}
        } throws: { error in
            "\(error)".contains("is not subscribed; run pgrelay subscribe public.plain")
        }
    }
}
