import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// What a hostile name, role or session setting can do to the write path: nothing.
@Suite struct HardeningTests {
    /// The error `body` throws, as text; fails the test when it throws nothing.
    func failure(_ body: () throws -> Void) -> String {
        do {
            try body()
            Issue.record("expected an error")
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func refusesTablesThatCannotBeSubscribed() throws {
        let db = try TestDatabase()
        try db.connection.execute(
            """
            create table parent (id int, region text, primary key (id, region)) partition by list (region);
            create table parent_eu partition of parent for values in ('eu');
            create table other (id int, region text, primary key (id, region)) partition by list (region);
            create table other_eu partition of other for values in ('eu');
            create view a_view as select 1 as x;
            """
        )
        for own in ["log", "subscriptions", "ticks", "changes"] {
            #expect(failure { try db.installer.subscribe(TableName(schema: "realtime", name: own)) }.contains("pgrelay's own tables"))
        }
        #expect(failure { try db.installer.subscribe(TableName(schema: "pg_catalog", name: "pg_class")) }.contains("system catalog"))
        #expect(failure { try db.installer.subscribe(TableName(schema: "public", name: "a_view")) }.contains("not a table"))
        // Another session's temporary table.
        let other = try db.connect()
        try other.execute("create temporary table scratch (id int primary key)")
        let tempSchema = try other.query("select nspname from pg_namespace where oid = pg_my_temp_schema()").first![0]!
        #expect(failure { try db.installer.subscribe(TableName(schema: tempSchema, name: "scratch")) }.contains("temporary table"))
        try db.installer.subscribe(TableName(schema: "public", name: "parent"))
        #expect(
            failure { try db.installer.subscribe(TableName(schema: "public", name: "parent_eu")) }.contains(
                "is a partition of public.parent, which is subscribed"))
        try db.installer.subscribe(TableName(schema: "public", name: "other_eu"))
        #expect(
            failure { try db.installer.subscribe(TableName(schema: "public", name: "other")) }.contains(
                "partition public.other_eu of public.other is subscribed on its own"))
        // Nothing half-installed by the refusals.
        let triggers = try db.connection.query(
            "select count(*) from pg_trigger where tgname like 'realtime%' and tgrelid in ('other'::regclass, 'parent_eu'::regclass) and tgparentid = 0"
        )
        #expect(triggers.first?[0] == "0")
        // Writes still work: realtime.log is not captured into itself.
        try db.connection.execute("insert into parent values (1, 'eu'); insert into other_eu values (1, 'eu')")
        #expect(try db.ticked().read(after: 0).count == 2)
    }

    /// Rename a subscribed table, then give its old name to a new table and subscribe that: two
    /// subscriptions, each with its own channel, triggers and history; unsubscribing each removes
    /// exactly what subscribing it installed.
    @Test func subscriptionsFollowTheirTableThroughRenames() throws {
        let db = try TestDatabase()
        let installed =
            "select (select count(*) from pg_trigger where tgname like 'realtime%'), (select count(*) from pg_proc where pronamespace = 'realtime'::regnamespace)"
        let before = try db.connection.query(installed, []).first!
        let orders = TableName(schema: "public", name: "orders")
        try db.subscribedTable(orders)
        try db.connection.execute("insert into orders values (1, 'old table'); alter table orders rename to orders_old")
        let renamed = TableName(schema: "public", name: "orders_old")
        #expect(failure { try db.installer.unsubscribe(orders) }.contains("was renamed to public.orders_old"))
        try db.connection.execute("create table orders (id int primary key, note text)")
        let fresh = try db.installer.subscribe(orders)
        let old = try db.installer.subscriptions(for: [renamed])[0]
        #expect(fresh.channel != old.channel)
        #expect(old.channel == ChannelName.forTable(orders))
        try db.connection.execute("insert into orders_old values (2, 'old table, renamed'); insert into orders values (3, 'new table')")
        try db.connection.execute("update orders_old set note = 'u'; update orders set note = 'u'")
        let log = try db.ticked()
        let newRows = try log.read(after: 0, channels: [fresh.channel])
        let oldRows = try log.read(after: 0, channels: [old.channel])
        #expect(newRows.map { $0.new?["id"] } == [.number("3"), .number("3")])
        // The rename is an event at its place, naming the table as it is after it (and before it in `old`).
        #expect(
            oldRows.map { $0.operation == .schema ? "SCHEMA \($0.table)" : $0.new?["id"]?.jsonText ?? "" } == [
                "1", "SCHEMA public.orders_old", "2", "1", "2",
            ])
        #expect(TableShape(json: oldRows[1].old)?.table == orders)
        try db.installer.unsubscribe(renamed)
        #expect(try db.installer.subscriptions().map(\.table) == [orders])
        try db.installer.unsubscribe(orders)
        #expect(try db.connection.query(installed, []).first! == before)
        // The old table subscribed again takes its channel back, and its history with it.
        let again = try db.installer.subscribe(renamed)
        #expect(again.channel == old.channel)
        // A table dropped without unsubscribing: a new table of that name starts with nothing of it.
        try db.connection.execute("drop table orders_old; create table orders_old (id int primary key, note text)")
        let reborn = try db.installer.subscribe(renamed)
        #expect(reborn.channel != old.channel)
        try db.connection.execute("insert into orders_old values (9, 'reborn')")
        #expect(try db.ticked().read(after: 0, channels: [reborn.channel]).map { $0.new?["id"] } == [.number("9")])
    }

    /// A role that may write the table and has no rights on the realtime schema writes as usual;
    /// it can neither read, write nor forge the log.
    @Test func writersNeedNoGrantsAndCannotTouchTheLog() throws {
        let db = try TestDatabase()
        let role = "writer_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try db.connection.execute("create role \(role); create table notes (id int primary key, body text); create table own (id int)")
        defer { try? db.connection.execute("drop owned by \(role); drop role \(role)") }
        try db.installer.subscribe(TableName(schema: "public", name: "notes"))
        try db.connection.execute("grant all on notes to \(role); alter table own owner to \(role)")
        let writer = try db.connect()
        try writer.execute("set role \(role)")
        try writer.execute(
            "insert into notes values (1, 'a'), (2, 'b'); update notes set body = 'c'; delete from notes where id = 1; insert into notes values (3, 'd')"
        )
        #expect(try db.ticked().read(after: 0).map(\.operation) == [.insert, .insert, .update, .update, .delete, .insert])
        for attempt in [
            "select * from realtime.log", "insert into realtime.log (channel, n, record) values ('x', 1, '{}')", "delete from realtime.log",
            "update realtime.ticks set last_id = 0", "select realtime.tick()",
            "create trigger forge after insert on own referencing new table as changed_rows for each statement execute function realtime.capture_rows('realtime:table:public.notes', 'wake', 'public', 'notes', 'id')",
        ] {
            #expect(failure { try writer.execute(attempt) }.contains("permission denied"), "\(attempt)")
        }
    }

    /// What the writer's session says does not change what is captured: search_path, time zone,
    /// interval style, float digits, isolation, synchronous_commit, and session_replication_role
    /// (captured: a logical replication apply worker's changes are the table's changes too).
    @Test func theWritersSessionDoesNotChangeWhatIsCaptured() throws {
        let db = try TestDatabase()
        try db.connection.execute(
            """
            create extension if not exists citext;
            create table typed (email citext primary key, at timestamptz, span interval, ratio float8, raw bytea);
            """
        )
        try db.installer.subscribe(TableName(schema: "public", name: "typed"))
        let insert = "insert into public.typed values ('A@x', '2026-01-02 03:04:05+00', '1 day 2 hours', 0.1, '\\x00ff')"
        var records: [String] = []
        for settings in [
            "",
            "set search_path = ''; set timezone = 'America/New_York'; set intervalstyle = 'iso_8601'; set extra_float_digits = 3; set bytea_output = 'escape'; set datestyle = 'German'",
            "set session_replication_role = replica; set synchronous_commit = off; set default_transaction_isolation = serializable",
        ] {
            let writer = try db.connect()
            if !settings.isEmpty { try writer.execute(settings) }
            try writer.execute("begin; " + insert + "; update public.typed set email = 'a@X', ratio = 0.1; delete from public.typed; commit")
            let events = try db.ticked().read(after: 0).suffix(3)
            #expect(events.map(\.operation) == [.insert, .update, .delete], "\(settings)")
            records.append(events.map { $0.new?.jsonText ?? $0.old!.jsonText }.joined(separator: "\n"))
        }
        #expect(Set(records).count == 1, "\(records)")
        // The citext key paired old and new rows as citext: one UPDATE, not a DELETE and an INSERT.
        #expect(records[0].contains(#""at":"2026-01-02T03:04:05+00:00""#))
    }

    /// Columns named like the capture functions' own aliases and variables are captured like any.
    @Test func columnsNamedLikeTheCaptureInternalsAreCaptured() throws {
        let db = try TestDatabase()
        let columns = [
            "r", "n", "o", "ord", "chunk", "nj", "oj", "row_json", "written", "inserted", "tg_op", "tg_argv", "changed_rows", "new_rows", "pair",
            "same",
        ]
        let definition = columns.map { "\(SQLQuoting.identifier($0)) text" }.joined(separator: ", ")
        try db.connection.execute("create table keyed (id int primary key, \(definition)); create table unkeyed (id int, \(definition))")
        for table in ["keyed", "unkeyed"] {
            try db.installer.subscribe(TableName(schema: "public", name: table), events: try EventSet(parsing: "INSERT,UPDATE,DELETE,TRUNCATE"))
            let values = columns.map { "'\($0)'" }.joined(separator: ", ")
            try db.connection.execute(
                """
                insert into \(table) values (1, \(values)); insert into \(table) select g, \(values) from generate_series(2, 3) g;
                update \(table) set r = 'x' where id = 1; update \(table) set n = 'y'; delete from \(table) where id = 3; delete from \(table)
                """
            )
        }
        let events = try db.ticked().read(after: 0)
        #expect(events.count == 2 * (1 + 2 + 1 + 3 + 1 + 2))
        for event in events {
            let row = event.row!
            #expect(row["o"] == .string("o") && row["tg_op"] == .string("tg_op") && row["id"] != nil, "\(event.canonicalJSONText)")
        }
    }
}
