import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

@Suite struct PipelineTests {
    let orders = TableName(schema: "public", name: "orders")

    /// DESIGN.md, "Commit order from snapshots": the transaction that writes first but commits
    /// after a tick must get the larger id, whatever a reader saw meanwhile; transactions that
    /// committed between the same two ticks keep one fixed order (by their last log row).
    @Test func idsFollowCommitOrderAcrossTicks() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let first = try db.connect()
        let second = try db.connect()
        try first.execute("begin")
        try first.execute("insert into orders values (1, 'written first, committed last')")
        try second.execute("begin")
        try second.execute("insert into orders values (2, 'written second, committed first')")
        try second.execute("commit")
        let seen = try db.ticked().read(after: 0)
        #expect(seen.map { $0.new?["id"] } == [.number("2")])
        try first.execute("commit")
        let replayed = try db.ticked().read(after: 0)
        #expect(replayed.map { $0.new?["id"] } == [.number("2"), .number("1")])
        // A reader that resumes after what it saw gets the later commit: nothing is skipped.
        #expect(try db.log.read(after: seen[0].id).map { $0.new?["id"] } == [.number("1")])

        // Both committed before the next tick: one tick, ordered by each transaction's last write.
        try first.execute("begin; insert into orders values (3, 'a')")
        try second.execute("begin; insert into orders values (4, 'b')")
        try first.execute("insert into orders values (5, 'a again')")
        try first.execute("commit")
        try second.execute("commit")
        let tick = try db.ticked().read(after: replayed[1].id)
        #expect(tick.map { $0.new?["id"] } == [.number("4"), .number("3"), .number("5")])
        #expect(zip(tick, tick.dropFirst()).allSatisfy { $1.id == $0.id + 1 })
    }

    @Test func everyOperationArrivesTypedAndComplete() async throws {
        let db = try TestDatabase()
        try await db.execute("create table items (id int primary key, price numeric, ok boolean, tags text[], meta jsonb, at timestamptz)")
        try db.installer.subscribe(TableName(schema: "public", name: "items"), events: EventSet(parsing: "INSERT,UPDATE,DELETE,TRUNCATE"))
        let (stream, _) = try await startListener(db, tables: .all)
        try await db.execute(
            """
            insert into items values (1, 12345678901234567890.123, true, '{a,b}', '{"k": [1, {"x": null}]}', '2026-01-02 03:04:05+00');
            update items set price = 2 where id = 1;
            delete from items;
            insert into items values (2, 1, false, null, null, null);
            truncate items;
            """
        )
        let events = try await collect(stream, count: 5)
        #expect(events.map(\.operation) == [.insert, .update, .delete, .insert, .truncate])
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.id < $1.id })
        let insert = events[0]
        #expect(insert.new?["price"] == .number("12345678901234567890.123"))
        #expect(insert.new?["ok"] == .bool(true))
        #expect(insert.new?["tags"] == .array([.string("a"), .string("b")]))
        #expect(insert.new?["meta"]?["k"] == .array([.number("1"), .object([("x", .null)])]))
        #expect(insert.new?["at"] == .string("2026-01-02T03:04:05+00:00"))
        #expect(insert.old == nil)
        #expect(events[1].changedColumns == ["price"])
        #expect(events[2].new == nil && events[2].old?["id"] == .number("1"))
        #expect(events[4].new == nil && events[4].old == nil)
        #expect(try db.ticked().read(after: 0) == events)
    }

    /// Rows past NOTIFY's 8000-byte limit travel as a reference and are read from the log.
    @Test func aOneMegabyteRowArrivesWhole() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .only([orders]))
        try await db.execute("insert into orders values (1, repeat('x', 1024 * 1024)); insert into orders values (2, 'small')")
        let events = try await collect(stream, count: 2)
        #expect(events[0].new?["note"]?.stringValue?.count == 1024 * 1024)
        #expect(events[1].new?["note"] == .string("small"))
    }

    /// More changes in one transaction than the per-transaction stash holds, and a big one in the middle.
    @Test func largeTransactionsKeepOrderAndIds() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .only([orders]))
        try await db.execute(
            "begin; insert into orders select g, case when g = 150 then repeat('y', 20000) else 'n' || g end from generate_series(1, 250) g; commit"
        )
        let events = try await collect(stream, count: 250)
        #expect(events.map { $0.new?["id"] } == (1...250).map { .number(String($0)) })
        #expect(zip(events, events.dropFirst()).allSatisfy { $1.id == $0.id + 1 })
        #expect(events[149].new?["note"]?.stringValue?.count == 20000)
    }

    @Test func rolledBackSavepointsLeaveNoTrace() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .only([orders]))
        try await db.execute(
            """
            begin;
            savepoint a; insert into orders values (1, 'rolled back first'); rollback to savepoint a;
            insert into orders values (2, 'kept');
            savepoint b; insert into orders values (3, 'rolled back'); rollback to savepoint b;
            insert into orders values (4, 'kept too');
            commit;
            begin; insert into orders values (5, 'aborted'); rollback;
            insert into orders values (6, 'after');
            """
        )
        let events = try await collect(stream, count: 3)
        #expect(events.map { $0.new?["id"] } == [.number("2"), .number("4"), .number("6")])
        #expect(events[1].id == events[0].id + 1)
        #expect(try db.ticked().read(after: 0).count == 3)
    }

    /// SET CONSTRAINTS ALL IMMEDIATE numbers changes at each statement's end instead of at commit.
    @Test func immediateConstraintsStillNumberEveryChange() async throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        let (stream, _) = try await startListener(db, tables: .only([orders]))
        try await db.execute(
            "begin; set constraints all immediate; insert into orders values (1, 'a'); insert into orders values (2, 'b'), (3, 'c'); commit"
        )
        let events = try await collect(stream, count: 3)
        #expect(events.map { $0.new?["id"] } == [.number("1"), .number("2"), .number("3")])
        #expect(try db.ticked().read(after: 0).map(\.id) == events.map(\.id))
    }

    /// Mixed case, spaces, dots, quotes, and 63-byte schema and table names.
    @Test func anyLegalTableNameWorks() async throws {
        let db = try TestDatabase()
        let long = String(repeating: "s", count: 62) + "1"
        let tables = [
            TableName(schema: "public", name: "MixedCase"),
            TableName(schema: "my schema", name: "order lines"),
            TableName(schema: "a.b", name: "c"),
            TableName(schema: "a", name: "b.c"),
            TableName(schema: "quo\"te", name: "it's \"here\""),
            TableName(schema: long, name: String(repeating: "t", count: 63)),
            TableName(schema: long, name: String(repeating: "t", count: 62) + "u"),
            TableName(schema: "ünïcødé", name: String(repeating: "é", count: 31)),
        ]
        var channels = Set<String>()
        for table in tables {
            let subscription = try db.subscribedTable(table)
            #expect(subscription.channel.utf8.count <= 63)
            channels.insert(subscription.channel)
        }
        #expect(channels.count == tables.count)
        let (stream, _) = try await startListener(db, tables: .only(tables))
        for (i, table) in tables.enumerated() {
            try await db.execute("insert into \(table.quoted) values (\(i), 'row')")
        }
        let events = try await collect(stream, count: tables.count)
        #expect(events.map(\.table) == tables)
        for table in tables {
            let parsed = try TableName(parsing: table.description)
            #expect(parsed == table)
        }
    }
}
