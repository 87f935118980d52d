import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelaySQL
import PGRelayTestSupport
import Testing

/// The write path of schema version 3: capture triggers that only insert, ids from snapshot
/// ticks, statement chunks, and NOTIFY as an option (DESIGN.md, "Commit order from snapshots").
@Suite struct WritePathTests {
    /// Eight writers update overlapping rows (in one order, so they queue on each other's row
    /// locks), insert single rows and 30-row statements, roll one transaction in ten back, and two
    /// of them hold transactions open across many ticks; a ticker thread races the commits, and two
    /// listeners (two relay instances) tick and read too. Every committed change must be in the
    /// log exactly once, each row's changes in causal order, each transaction's together, both
    /// listeners must see the same ids, and a reader resuming from any id must get exactly the rest.
    @Test func concurrentWritersKeepOrderAndResumeExactly() async throws {
        let db = try TestDatabase()
        try await db.execute(
            """
            create table counters (id int primary key, v bigint not null, txn text);
            insert into counters select g, 0, null from generate_series(1, 6) g;
            create table entries (id bigserial primary key, txn text not null, k int not null);
            """
        )
        try db.installer.subscribe(TableName(schema: "public", name: "counters"))
        try db.installer.subscribe(TableName(schema: "public", name: "entries"), notify: .off)
        let start = try Ticker(connection: db.connection).tick()
        let (streamA, _) = try await startListener(db, tables: .all, startAfter: start)
        let (streamB, _) = try await startListener(db, tables: .all, startAfter: start)

        let stop = StopFlag()
        defer { stop.set() }
        let committed = Committed()
        async let ticking: Void = Workers.run(1, name: "ticker") { _ in
            let connection = try db.connect()
            // Paced, not synchronising: a tick every millisecond or so races the commits.
            while !stop.isSet {
                try Ticker(connection: connection).tick()
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        try await Workers.run(8, name: "writer") { writer in
            let connection = try db.connect()
            var random = SystemRandomNumberGenerator()
            for i in 0..<30 {
                let txn = "w\(writer)t\(i)"
                let keys = [Int.random(in: 1...6, using: &random), Int.random(in: 1...6, using: &random)].sorted()
                let long = writer < 2 && i % 7 == 3
                do {
                    try connection.execute("begin")
                    try connection.query("insert into entries (txn, k) values ($1, 1)", [txn])
                    if i % 4 == 0 {
                        try connection.query(
                            "update counters set v = v + 1, txn = $1 where id in ($2, $3)", [txn, String(keys[0]), String(keys[1])]
                        )
                    } else {
                        for key in keys {
                            try connection.query("update counters set v = v + 1, txn = $1 where id = $2", [txn, String(key)])
                        }
                    }
                    if i % 5 == 0 {
                        try connection.query("insert into entries (txn, k) select $1, g from generate_series(2, 31) g", [txn])
                    }
                    // Open across many of the ticker's ticks, holding its row locks.
                    if long { Thread.sleep(forTimeInterval: 0.15) }
                    if i % 10 == 9 {
                        try connection.execute("rollback")
                    } else {
                        try connection.execute("commit")
                        committed.add(txn, entries: i % 5 == 0 ? 31 : 1)
                    }
                } catch let error as PostgresError where error.sqlState == "40P01" {
                    // A multi-row UPDATE may lock its rows in either order: Postgres picked a deadlock victim.
                    try connection.execute("rollback")
                }
            }
        }
        stop.set()
        try await ticking

        let log = try db.ticked()
        var all: [ChangeEvent] = []
        while true {
            let page = try log.read(after: all.last?.id ?? start, limit: 700)
            all += page
            if page.count < 700 { break }
        }
        // Ids are dense and increasing.
        #expect(all.map(\.id) == Array((start + 1)...(start + Int64(all.count))))
        // Every committed insert exactly once, nothing of a rolled-back transaction.
        let inserted = all.filter { $0.table.name == "entries" }.map { "\($0.new?["txn"]?.stringValue ?? "")/\($0.new?["k"] ?? .null)" }
        #expect(inserted.count == Set(inserted).count)
        #expect(Set(inserted.map { String($0.split(separator: "/")[0]) }) == committed.transactions)
        #expect(inserted.count == committed.entryCount)
        // Per row, each change follows the one it waited for: v counts up by one, from 0 to the final value.
        let finals = try db.connection.query("select id, v from counters order by id")
        for row in finals {
            let key = JSONValue.number(row[0]!)
            let updates = all.filter { $0.table.name == "counters" && $0.new?["id"] == key }
            #expect(updates.map { $0.old?["v"] } == (0..<updates.count).map { .number(String($0)) }, "row \(row[0]!)")
            #expect(updates.map { $0.new?["v"] } == (1...max(1, updates.count)).prefix(updates.count).map { .number(String($0)) })
            #expect(String(updates.count) == row[1]!)
        }
        // Each transaction's changes are together.
        var seen: [String] = []
        for event in all {
            let txn = (event.new?["txn"]?.stringValue)!
            if seen.last != txn {
                #expect(!seen.contains(txn), "transaction \(txn) split")
                seen.append(txn)
            }
        }
        // Two relay instances, the same ids and changes.
        let liveA = try await collect(streamA, count: all.count)
        let liveB = try await collect(streamB, count: all.count)
        #expect(liveA == all)
        #expect(liveB == all)
        // Resume from every id, mid-tick and mid-chunk included (off the cooperative pool: thousands of queries).
        let expected = all
        let mismatches = try await Workers.value { () -> [Int64] in
            let reader = ChangeLog(connection: try db.connect())
            return try expected.enumerated().compactMap { index, event in
                try reader.read(after: event.id, limit: 2) == Array(expected.dropFirst(index + 1).prefix(2)) ? nil : event.id
            }
        }
        #expect(mismatches.isEmpty, "resuming after these ids went wrong: \(mismatches.prefix(20))")
    }

    /// A transaction left open across ticks: those that commit meanwhile are numbered in earlier
    /// ticks, while it is still open; it lands, whole, in the first tick after its commit.
    @Test func aLongTransactionHoldsNobodyBack() async throws {
        let db = try TestDatabase()
        let orders = TableName(schema: "public", name: "orders")
        try db.subscribedTable(orders)
        let long = try db.connect()
        try long.execute("begin; insert into orders values (100, 'long'); insert into orders values (101, 'long too')")
        var others: [ChangeEvent] = []
        for i in 1...5 {
            try await db.execute("insert into orders values (\(i), 'short')")
            let page = try db.ticked().read(after: others.last?.id ?? 0)
            #expect(page.map { $0.new?["id"] } == [.number(String(i))])
            others += page
        }
        try long.execute("commit")
        let after = try db.ticked().read(after: others.last!.id)
        #expect(after.map { $0.new?["id"] } == [.number("100"), .number("101")])
        func tick(of id: Int64) throws -> Int {
            Int(try db.connection.query("select tick from realtime.ticks where $1 between first_id and last_id", [String(id)]).first![0]!)!
        }
        let shortTicks = try others.map { try tick(of: $0.id) }
        #expect(shortTicks == shortTicks.sorted() && Set(shortTicks).count == 5)
        #expect(try tick(of: after[0].id) == tick(of: after[1].id))
        #expect(try tick(of: after[0].id) > shortTicks.max()!)
    }

    /// The same statements on an `auto`, a `wake`, a `payload` and an `off` table give the same events; only
    /// the NOTIFYs differ, and a raw LISTENer sees the payloads it knows.
    @Test func everyNotifyModeDeliversTheSameEvents() async throws {
        let db = try TestDatabase()
        // LISTEN is in force once listen() returns.
        let raw = try db.connect()
        for mode in NotifyMode.allCases {
            let table = TableName(schema: "public", name: "t_\(mode)")
            try await db.execute("create table \(table.quoted) (id int primary key, note text)")
            let subscription = try db.installer.subscribe(table, events: EventSet(parsing: "INSERT,UPDATE,DELETE,TRUNCATE"), notify: mode)
            #expect(subscription.notify == mode)
            try raw.listen(subscription.channel)
        }
        let (stream, _) = try await startListener(db, tables: .all)
        for mode in NotifyMode.allCases {
            let t = "t_\(mode)"
            try await db.execute(
                """
                insert into \(t) values (1, 'a'), (2, 'b'), (3, 'c');
                begin; update \(t) set note = 'b2' where id = 2; delete from \(t) where id = 1; commit;
                update \(t) set id = 30 where id = 3;
                insert into \(t) values (4, repeat('x', 9000));
                truncate \(t);
                """
            )
        }
        let events = try await collect(stream, count: NotifyMode.allCases.count * 9)
        func shape(_ mode: NotifyMode) -> [String] {
            events.filter { $0.table.name == "t_\(mode)" }.map { "\($0.operation.rawValue) \($0.new?.jsonText ?? "-") \($0.old?.jsonText ?? "-")" }
        }
        #expect(shape(.wake).count == 9)
        #expect(shape(.wake) == shape(.payload))
        #expect(shape(.wake) == shape(.auto))
        #expect(shape(.wake) == shape(.off))
        #expect(shape(.off).filter { $0.hasPrefix("DELETE {") }.isEmpty)
        #expect(shape(.off).contains(#"DELETE - {"id":3,"note":"c"}"#) && shape(.off).contains(#"INSERT {"id":30,"note":"c"} -"#), "\(shape(.off))")
        // payload: one NOTIFY per change in the known form, without an id; a large row by reference with its key.
        var notifications: [RawNotification] = []
        let deadline = Date().addingTimeInterval(30)
        while notifications.filter({ $0.channel.hasSuffix("t_payload") }).count < 9, Date() < deadline {
            notifications += try raw.waitForNotifications(timeout: 0)
            try await Task.sleep(for: .milliseconds(20))
        }
        let received = try notifications.filter { $0.channel.hasSuffix("t_payload") }.map { try JSONValue(parsing: $0.payload) }
        #expect(received.count == 9)
        // wake: empty payloads, at most one per transaction; off: none.
        let wakes = notifications.filter { $0.channel.hasSuffix("t_wake") }
        #expect(!wakes.isEmpty && wakes.count <= 5 && wakes.allSatisfy { $0.payload.isEmpty })
        #expect(!notifications.contains { $0.channel.hasSuffix("t_off") })
        #expect(received.allSatisfy { $0["id"] == nil && $0["timestamp"]?.stringValue != nil && $0["table"] == .string("t_payload") })
        #expect(received[0]["operation"] == .string("INSERT") && received[0]["new"]?["note"] == .string("a"))
        #expect(received.contains { $0["ref"] == .bool(true) && $0["key"] == .object([("id", .number("4"))]) })
    }

    /// Statements are captured in chunks of at most 500 rows (and about 1 MB); ids count rows.
    @Test func statementsAreChunkedAndIdsCountRows() async throws {
        let db = try TestDatabase()
        let orders = TableName(schema: "public", name: "orders")
        try db.subscribedTable(orders)
        try await db.execute("insert into orders select g, 'n' || g from generate_series(1, 1200) g")
        let events = try db.ticked().read(after: 0, limit: 2000)
        #expect(events.count == 1200)
        #expect(events.map { $0.new?["id"] } == (1...1200).map { .number(String($0)) })
        let rows = try db.connection.query("select count(*), sum(n), max(n) from realtime.log")
        #expect(rows.first!.values == ["3", "1200", "500"])
        // Resume across a chunk boundary.
        #expect(try db.log.read(after: events[498].id, limit: 3).map(\.id) == events[499...501].map(\.id))
        // Large rows: about 1 MB of row data per log row.
        try await db.execute("delete from realtime.log; insert into orders select g, repeat('y', 400000) from generate_series(2001, 2006) g")
        let big = try db.ticked().read(after: events.last!.id)
        #expect(big.count == 6 && big.allSatisfy { $0.new?["note"]?.stringValue?.count == 400000 })
        #expect(try db.connection.query("select count(*) > 1 from realtime.log").first![0] == "t")
    }

    /// UPDATE pairs old and new rows by key; a changed key reads as the old key leaving and the new
    /// arriving, so that a consumer keeping rows by key ends with the table's state. Tables without
    /// a key capture UPDATE per row.
    @Test func updatesPairByKeyAndKeylessTablesUseRowTriggers() async throws {
        let db = try TestDatabase()
        try await db.execute(
            """
            create table orders (id int primary key, note text);
            insert into orders select g, 'n' || g from generate_series(1, 5) g;
            create table notes (body text, n int);
            insert into notes values ('a', 1), ('b', 2);
            """
        )
        try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        try db.installer.subscribe(TableName(schema: "public", name: "notes"))
        try await db.execute(
            "update orders set id = case when id = 5 then 50 else id end, note = note || '+' where id >= 3; update notes set n = n * 10"
        )
        let events = try db.ticked().read(after: 0)
        var state: [JSONValue: JSONValue] = [:]
        for row in try db.connection.query("select id, note from orders where id < 3") { state[.number(row[0]!)] = .string(row[1]!) }
        for event in events where event.table.name == "orders" {
            if let old = event.old?["id"], event.operation != .update || event.new?["id"] != old { state[old] = nil }
            if let new = event.new { state[new["id"]!] = new["note"] }
        }
        let table = try db.connection.query("select id, note from orders order by id").map { (JSONValue.number($0[0]!), JSONValue.string($0[1]!)) }
        #expect(state.count == table.count && table.allSatisfy { state[$0.0] == $0.1 })
        #expect(events.filter { $0.table.name == "orders" }.map(\.operation.rawValue).sorted() == ["DELETE", "INSERT", "UPDATE", "UPDATE"])
        let notes = events.filter { $0.table.name == "notes" }
        #expect(notes.map { $0.new?["n"] } == [.number("10"), .number("20")])
        #expect(notes.map { $0.old?["n"] } == [.number("1"), .number("2")])
        #expect(try db.connection.query("select count(*) from realtime.log where record->>'table' = 'notes'").first![0] == "2")
    }

    /// A partitioned table is captured on its parent: events carry the parent's name.
    @Test func partitionedTablesAreCapturedOnTheParent() async throws {
        let db = try TestDatabase()
        try await db.execute(
            """
            create table events (id int, at date, kind text, primary key (id, at)) partition by range (at);
            create table events_2026 partition of events for values from ('2026-01-01') to ('2027-01-01');
            create table events_2027 partition of events for values from ('2027-01-01') to ('2028-01-01');
            """
        )
        let parent = TableName(schema: "public", name: "events")
        try db.installer.subscribe(parent)
        let (stream, _) = try await startListener(db, tables: .only([parent]))
        try await db.execute(
            """
            insert into events values (1, '2026-05-01', 'a'), (2, '2027-05-01', 'b');
            update events set kind = 'c';
            delete from events where id = 2;
            """
        )
        let events = try await collect(stream, count: 5)
        #expect(events.allSatisfy { $0.table == parent })
        #expect(events.map(\.operation) == [.insert, .insert, .update, .update, .delete])
    }

    /// `--notify off` tables work with two-phase commit; Postgres cannot PREPARE a transaction that
    /// sent NOTIFY, which the other modes do.
    @Test func twoPhaseCommitWorksWithNotifyOff() async throws {
        let db = try TestDatabase()
        try await db.execute("create table quiet (id int primary key); create table loud (id int primary key)")
        try db.installer.subscribe(TableName(schema: "public", name: "quiet"), notify: .off)
        try db.installer.subscribe(TableName(schema: "public", name: "loud"))
        let writer = try db.connect()
        try writer.execute("begin; insert into quiet values (1); prepare transaction 'pgrelay_test_quiet'")
        #expect(try db.ticked().read(after: 0).isEmpty)
        try writer.execute("commit prepared 'pgrelay_test_quiet'")
        #expect(try db.ticked().read(after: 0).map { $0.new?["id"] } == [.number("1")])
        try writer.execute("begin; insert into loud values (1)")
        #expect { try writer.execute("prepare transaction 'pgrelay_test_loud'") } throws: { "\($0)".contains("NOTIFY") }
    }

    /// `pgrelay init` upgrades schema version 2 while writers keep writing: every change already
    /// numbered keeps its id, and every change committed before, during and after is there once.
    @Test func upgradeFromVersion2KeepsEveryID() async throws {
        let db = try TestDatabase(initialized: false)
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/schema-v2")
        let v2Functions = try String(contentsOf: fixture.appendingPathComponent("functions.sql"), encoding: .utf8)
        let migrations = try TriggerSQL.migrations().filter { $0.version <= 2 }
        try await db.execute(try TriggerSQL.file("bootstrap.sql"))
        for migration in migrations {
            try await db.execute(migration.sql)
            try db.connection.query("insert into realtime.schema_migrations (version) values ($1)", [String(migration.version)])
        }
        try await db.execute(v2Functions)
        try await db.execute(
            """
            create table orders (id int primary key, note text);
            insert into realtime.subscriptions (schema_name, table_name, channel, events)
                values ('public', 'orders', 'realtime:table:public.orders', '{INSERT,UPDATE,DELETE}');
            create trigger realtime_capture after insert or update or delete on orders
                for each row execute function realtime.capture('realtime:table:public.orders');
            """
        )
        for i in 1...20 { try await db.execute("insert into orders values (\(i), 'v2')") }
        try await db.execute("update orders set note = 'v2 updated' where id <= 5")
        let before = try db.connection.query("select id, record::text from realtime.events order by id")
        #expect(before.count == 25)

        let stop = StopFlag()
        defer { stop.set() }
        let committed = CommittedIDs()
        async let writing: Void = Workers.run(3, name: "writer") { writer in
            let connection = try db.connect()
            var i = 0
            while !stop.isSet || i < 20 {
                let id = 1000 + writer * 100_000 + i
                try connection.execute("insert into orders values (\(id), 'during')")
                committed.add(id)
                i += 1
            }
        }
        try await waitUntil("writers to start") { committed.count >= 10 }
        let result = try await Workers.value { try SchemaMigration(connection: try db.connect()).initialize() }
        let current = try SchemaMigration.currentVersion()
        #expect(result.previousVersion == 2 && result.version == current)
        try await waitUntil("writers to write after the upgrade") { committed.count >= 100 }
        stop.set()
        try await writing
        for i in 1...5 { try await db.execute("insert into orders values (\(i + 500), 'after')") }

        var all: [ChangeEvent] = []
        while true {
            let page = try db.ticked().read(after: all.last?.id ?? 0, limit: 1000)
            all += page
            if page.count < 1000 { break }
        }
        // What version 2 numbered keeps its id and content.
        let legacy = Array(all.prefix(before.count))
        #expect(legacy.map { String($0.id) } == before.map { $0[0]! })
        for (event, row) in zip(legacy, before) {
            let record = try JSONValue(parsing: row[1]!)
            #expect(event.new == (record["new"]!.isNull ? nil : record["new"]) && event.operation.rawValue == record["operation"]?.stringValue)
        }
        // Everything, once, in increasing id order.
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.id < $1.id })
        let insertedIDs = all.filter { $0.operation == .insert }.compactMap { $0.new?["id"] }
        #expect(insertedIDs.count == Set(insertedIDs).count)
        let expected = Set(
            (1...20).map { JSONValue.number(String($0)) } + committed.all.map { .number(String($0)) }
                + (501...505).map { .number(String($0)) })
        #expect(Set(insertedIDs) == expected)
        #expect(try db.installer.subscriptions().map(\.health) == ["ok"])
        #expect(
            try db.connection.query("select to_regclass('realtime.commits') is null and to_regclass('realtime.changes') is null").first![0] == "t")
    }
}

/// What the writers committed, from their threads.
final class Committed: @unchecked Sendable {
    private let lock = NSLock()
    private var txns: Set<String> = []
    private var entries = 0
    func add(_ txn: String, entries count: Int) {
        lock.withLock {
            txns.insert(txn)
            entries += count
        }
    }
    var transactions: Set<String> { lock.withLock { txns } }
    var entryCount: Int { lock.withLock { entries } }
}

final class CommittedIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [Int] = []
    func add(_ id: Int) { lock.withLock { ids.append(id) } }
    var count: Int { lock.withLock { ids.count } }
    var all: [Int] { lock.withLock { ids } }
}
