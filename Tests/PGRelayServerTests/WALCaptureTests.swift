import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Synchronization
import Testing

/// `subscribe --capture wal`: a relay reads the WAL and appends the changes to the same log, with
/// the same events as trigger capture and one order across both (docs/concepts.md, "Capture from
/// the WAL"). Against the shared test cluster, which runs with wal_level = logical.
@Suite struct WALCaptureTests {
    static let triggered = TableName(schema: "public", name: "triggered")
    static let walled = TableName(schema: "public", name: "walled")

    static func int(_ value: JSONValue?) -> Int? {
        if case .number(let text)? = value { return Int(text) }
        return nil
    }

    /// The log's changes of `table`, once it holds `count` of them (the relay's capturer and
    /// ticks run on their own: this only reads).
    static func changes(_ db: TestDatabase, of table: TableName, count: Int, timeout: Double = 60) async throws -> [ChangeEvent] {
        let conninfo = db.conninfo
        let found = Mutex<[ChangeEvent]>([])
        try await waitUntilBlocking(timeout: timeout, "\(count) changes of \(table) in the log") {
            let connection = try Connection(conninfo: conninfo)
            let channel = try Installer(connection: connection).subscriptions(for: [table])[0].channel
            let read = try ChangeLog(connection: connection).read(after: 0, channels: [channel], limit: 100_000)
            found.withLock { $0 = read }
            return read.count >= count
        }
        return found.withLock { $0 }
    }

    /// The same statements on a trigger-captured and a WAL-captured table of the same shape yield
    /// the same events: every operation, with the values of many types rendered alike (arrays,
    /// json, jsonb, numerics, timestamps, composites, geometry, bytea, NULLs), `old` whole with
    /// REPLICA IDENTITY FULL, and an UPDATE leaving a TOASTed value unchanged.
    @Test func theSameStatementsYieldTheSameEvents() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create type pair as (a int, b text)")
            for table in [Self.triggered, Self.walled] {
                try db.connection.execute(
                    """
                    create table \(table.quoted) (id int primary key, name text, tags text[], doc jsonb, raw json, n numeric, f float8,
                                                  at timestamptz, day date, span interval, p point, bytes bytea, pr pair, big text);
                    alter table \(table.quoted) replica identity full
                    """)
            }
            try db.installer.subscribe(Self.triggered)
            try db.installer.subscribe(Self.walled, capture: .wal)
        }
        try await TestServer.with(db) { server in
            try await server.waitForHealth { $0["capture"]?["role"] == .string("capturing") }
            let statements = [
                """
                insert into %t values (1, 'a "quoted" name', '{x,"y z",NULL}', '{"k": [1, 2.50, null], "s": "\\u00e9"}', '{"kept":  "as written"}',
                  12.3400, 0.1, '2024-02-29 12:34:56.789+02', '2024-01-01', '1 day 02:00:00', '(1.5,2)', '\\xdeadbeef', '(7,"b c")', repeat('x', 300000))
                """,
                "insert into %t (id) select g from generate_series(2, 4) g",
                "update %t set name = 'renamed', f = 'NaN' where id = 1",
                "update %t set n = -1 where id between 2 and 3",
                "update %t set id = 10 where id = 4",
                "delete from %t where id = 2",
                "truncate %t",
                "insert into %t (id, name) values (5, 'after truncate')",
            ]
            for statement in statements {
                for table in [Self.triggered, Self.walled] {
                    try await db.execute(statement.replacingOccurrences(of: "%t", with: table.quoted))
                }
            }
            let triggered = try await Self.changes(db, of: Self.triggered, count: 12)
            let walled = try await Self.changes(db, of: Self.walled, count: 12)
            #expect(triggered.count == 12)
            #expect(walled.map(\.operation) == triggered.map(\.operation))
            for (t, w) in zip(triggered, walled) {
                #expect(w.new == t.new, "\(t.operation) new: \(w.new?.jsonText ?? "nil") vs \(t.new?.jsonText ?? "nil")")
                #expect(w.old == t.old, "\(t.operation) old: \(w.old?.jsonText ?? "nil") vs \(t.old?.jsonText ?? "nil")")
                #expect(w.table == Self.walled)
            }
        }
    }

    /// Without REPLICA IDENTITY FULL (a table without TOASTable columns), `old` is the key, which
    /// is what the WAL holds.
    @Test func withoutFullIdentityOldIsTheKey() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table walled (id int primary key, n int, at timestamp)")
            try db.installer.subscribe(Self.walled, capture: .wal)
        }
        try await TestServer.with(db) { server in
            try await server.waitForHealth { $0["capture"]?["role"] == .string("capturing") }
            try await db.execute("insert into walled values (1, 1, '2024-01-01 00:00:00')")
            try await db.execute("update walled set n = 2 where id = 1")
            try await db.execute("update walled set id = 3 where id = 1")
            try await db.execute("delete from walled where id = 3")
            let changes = try await Self.changes(db, of: Self.walled, count: 5)
            #expect(changes.map(\.operation) == [.insert, .update, .delete, .insert, .delete])
            #expect(changes[0].new?.jsonText == #"{"id":1,"n":1,"at":"2024-01-01T00:00:00"}"#)
            #expect(changes[1].old?.jsonText == #"{"id":1}"#)
            #expect(changes[1].new?.jsonText == #"{"id":1,"n":2,"at":"2024-01-01T00:00:00"}"#)
            #expect(changes[2].old?.jsonText == #"{"id":1}"#)
            #expect(changes[3].new?.jsonText == #"{"id":3,"n":2,"at":"2024-01-01T00:00:00"}"#)
            #expect(changes[4].old?.jsonText == #"{"id":3}"#)
        }
    }

    /// Columns added to and dropped from a WAL-captured table reach its stream as SCHEMA events,
    /// each between the changes before and after it, and the rows after it have the new columns.
    @Test func columnsAddedAndDroppedReachTheStream() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table walled (id int primary key, n int)")
            try db.installer.subscribe(Self.walled, capture: .wal)
        }
        try await TestServer.with(db) { server in
            try await server.waitForHealth { $0["capture"]?["role"] == .string("capturing") }
            try await db.execute("insert into walled values (1, 1)")
            try await db.execute("alter table walled add column note int")
            try await db.execute("insert into walled values (2, 2, 20)")
            try await db.execute("alter table walled drop column n")
            try await db.execute("insert into walled values (3, 30)")
            let changes = try await Self.changes(db, of: Self.walled, count: 5)
            #expect(changes.map(\.operation) == [.insert, .schema, .insert, .schema, .insert])
            #expect(
                changes.map { $0.operation == .schema ? "" : $0.new?.jsonText ?? "nil" } == [
                    #"{"id":1,"n":1}"#, "", #"{"id":2,"n":2,"note":20}"#, "", #"{"id":3,"note":30}"#,
                ])
        }
    }

    /// Transactions that each write a trigger-captured and a WAL-captured table, in random order,
    /// one after another through a row lock, from several sessions at once: every change is in the
    /// log once, and ids follow the order the transactions took the lock in and, inside each, the
    /// order of its statements, whichever capture saw them.
    @Test(.timeLimit(.minutes(3))) func oneOrderAcrossBothCaptures() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute(
                """
                create table turn (only_one boolean primary key, n int not null);
                insert into turn values (true, 0);
                create table triggered (n int, step int);
                create table walled (n int, step int);
                alter table walled replica identity full
                """)
            try db.installer.subscribe(Self.triggered)
            try db.installer.subscribe(Self.walled, capture: .wal)
        }
        try await TestServer.with(db) { server in
            try await server.waitForHealth { $0["capture"]?["role"] == .string("capturing") }
            let (sessions, transactions) = (4, 60)
            let conninfo = db.conninfo
            try await Workers.run(sessions) { _ in
                let writer = try Connection(conninfo: conninfo)
                for _ in 0..<transactions {
                    try writer.transaction {
                        let n: Int = try writer.query("update turn set n = n + 1 returning n")[0].decode("n")
                        for step in 0..<Int.random(in: 1...4) {
                            let table = Bool.random() ? "triggered" : "walled"
                            try writer.execute("insert into \(table) values (\(n), \(step))")
                        }
                    }
                }
            }
            let total = try await db.query("select (select count(*) from triggered) + (select count(*) from walled)")[0][0].flatMap { Int($0) } ?? 0
            let triggeredCount = try await db.query("select count(*) from triggered")[0][0].flatMap { Int($0) } ?? 0
            let triggered = try await Self.changes(db, of: Self.triggered, count: triggeredCount)
            let walled = try await Self.changes(db, of: Self.walled, count: total - triggeredCount)
            let all = (triggered + walled).sorted { $0.id < $1.id }
            #expect(all.count == total)
            #expect(Set(all.map(\.id)).count == all.count, "an id given twice")
            let order = all.map { change -> [Int] in
                guard case .object(let row)? = change.new else { return [] }
                let value = { (key: String) in Self.int(row.first { $0.key == key }?.value) ?? -1 }
                return [value("n"), value("step")]
            }
            let outOfOrder = zip(order, order.dropFirst()).filter { !$0.0.lexicographicallyPrecedes($0.1) }
            #expect(outOfOrder.isEmpty, "\(outOfOrder.prefix(5))")
            #expect(Set(order).count == total)
        }
    }

    /// A table switched from triggers to the WAL and back while a writer inserts, one row per
    /// transaction: every row is in its stream once, in order, with no gap.
    @Test(.timeLimit(.minutes(3))) func switchingCaptureLosesAndRepeatsNothing() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table walled (id int primary key, n int)")
            try db.installer.subscribe(Self.walled)
        }
        try await TestServer.with(db) { server in
            let conninfo = db.conninfo
            let written = Mutex(0)
            let stop = StopFlag()
            try await Workers.run(2) { index in
                if index == 0 {
                    let writer = try Connection(conninfo: conninfo)
                    var id = 0
                    while !stop.isSet || id < 50 {
                        id += 1
                        try writer.execute("insert into walled values (\(id), 0)")
                        written.withLock { $0 = id }
                        // About 200 transactions a second: a bounded load beside the other tests.
                        Thread.sleep(forTimeInterval: 0.005)
                    }
                } else {
                    defer { stop.set() }
                    let installer = Installer(connection: try Connection(conninfo: conninfo))
                    for capture in [CaptureKind.wal, .trigger, .wal, .trigger, .wal] {
                        let before = written.withLock { $0 }
                        let deadline = Date().addingTimeInterval(30)
                        while written.withLock({ $0 }) < before + 20 {
                            guard Date() < deadline else { throw PostgresError(.query, "the writer stopped writing") }
                            Thread.sleep(forTimeInterval: 0.005)
                        }
                        try installer.subscribe(Self.walled, capture: capture)
                    }
                }
            }
            let count = written.withLock { $0 }
            let changes = try await Self.changes(db, of: Self.walled, count: count)
            let ids = changes.map { change -> Int in
                guard case .object(let row)? = change.new else { return -1 }
                return Self.int(row.first { $0.key == "id" }?.value) ?? -1
            }
            #expect(ids == Array(1...count))
            let subscription = try db.installer.subscriptions(for: [Self.walled])[0]
            #expect(subscription.capture == .wal && subscription.isHealthy, "\(subscription.health)")
        }
    }
}

/// What `subscribe --capture wal` refuses, and what the last WAL-captured table takes with it.
@Suite struct WALCaptureSetupTests {
    /// Each missing piece is said with what to do, and nothing changes: the table keeps its triggers.
    @Test func refusalsSayWhatIsMissing() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute(
                """
                create table keyed (id int primary key, n int);
                create table texty (id int primary key, body text);
                create table generated (id int primary key, n int, twice int generated always as (n * 2) stored);
                create table keyless (n int);
                """)
            try db.installer.subscribe(TableName(schema: "public", name: "keyed"))
        }
        func refusal(_ table: String, as role: String? = nil) async throws -> String {
            let conninfo = db.conninfo
            return try await Workers.value {
                let connection = try Connection(conninfo: conninfo)
                if let role { try connection.execute("set role \(role)") }
                do {
                    try Installer(connection: connection).subscribe(TableName(schema: "public", name: table), capture: .wal)
                    return "accepted"
                } catch {
                    return "\(error)"
                }
            }
        }
        #expect(try await refusal("texty").contains("REPLICA IDENTITY FULL"))
        #expect(try await refusal("generated").contains("generated columns (twice)"))
        #expect(try await refusal("keyless").contains("has no replica identity"))
        // A role without REPLICATION, and one that does not own the table.
        let suffix = String(UInt32.random(in: 0..<UInt32.max))
        try await db.execute(
            """
            create role plain_\(suffix); grant all on schema realtime to plain_\(suffix); grant all on all tables in schema realtime to plain_\(suffix);
            grant trigger on keyed to plain_\(suffix);
            create role replicator_\(suffix) replication; grant all on schema realtime to replicator_\(suffix);
            grant all on all tables in schema realtime to replicator_\(suffix); grant trigger on keyed to replicator_\(suffix)
            """)
        #expect(try await refusal("keyed", as: "plain_\(suffix)").contains("needs a role with REPLICATION"))
        #expect(try await refusal("keyed", as: "replicator_\(suffix)").contains("needs ownership of public.keyed"))
        let subscription = try db.installer.subscriptions()[0]
        #expect(subscription.capture == .trigger && subscription.isHealthy)
        #expect(try await db.query("select count(*) from pg_replication_slots where database = current_database()")[0][0] == "0")
        // A capture name that is neither.
        #expect(throws: CaptureKindError.self) { try CaptureKind(parsing: "logical") }
    }

    /// The last WAL-captured table unsubscribed: the relay's capturer reads past it, then drops
    /// the slot and the publication; ticks no longer wait for a capturer.
    @Test func theLastWALTableTakesTheSlotAndPublicationWithIt() async throws {
        let table = TableName(schema: "public", name: "walled")
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table walled (id int primary key, n int)")
            try db.installer.subscribe(table, capture: .wal)
        }
        try await TestServer.with(db) { server in
            try await server.waitForHealth { $0["capture"]?["role"] == .string("capturing") }
            try await db.execute("insert into walled values (1, 1)")
            _ = try await WALCaptureTests.changes(db, of: table, count: 1)
            try db.installer.subscribe(table, capture: .trigger)
            let conninfo = db.conninfo
            try await waitUntilBlocking(timeout: 30, "the slot, the publication and the capture's row gone") {
                let rows = try Connection(conninfo: conninfo).query(
                    """
                    select (select count(*) from pg_replication_slots where database = current_database())
                         + (select count(*) from pg_publication) + (select count(*) from realtime.wal_capture) as left
                    """, [])
                return rows[0][0] == "0"
            }
            try await db.execute("insert into walled values (2, 2)")
            let changes = try await WALCaptureTests.changes(db, of: table, count: 2)
            #expect(changes.count == 2)
        }
    }
}
