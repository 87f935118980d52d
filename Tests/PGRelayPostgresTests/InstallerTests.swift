import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

@Suite struct InstallerTests {
    let orders = TableName(schema: "public", name: "orders")

    @Test func initIsIdempotentAndUpgradesOlderInstalls() throws {
        let db = try TestDatabase(initialized: false)
        let first = try db.installer.schema.initialize()
        #expect(first.previousVersion == 0 && first.version >= 2)
        try db.subscribedTable(orders)
        try db.connection.execute("insert into orders values (1, 'before')")
        #expect(try db.installer.schema.initialize().previousVersion == first.version)
        try db.connection.execute("insert into orders values (2, 'after init again')")
        #expect(try db.ticked().read(after: 0).map { $0.new?["id"] } == [.number("1"), .number("2")])
    }

    /// Before version 12, `wake` was the default and could not be told apart from a choice:
    /// upgrading moves every `wake` subscription to `auto`, reinstalls its triggers (conditions
    /// kept) and says which tables it moved; other modes stay.
    @Test func upgradingTo12MovesWakeSubscriptionsToAuto() throws {
        let db = try TestDatabase()
        try db.connection.execute(
            "create table orders (id int primary key, note text); create table quiet (id int primary key); create table comments (id int primary key, post_id text)"
        )
        try db.installer.subscribe(orders, notify: .wake)
        try db.installer.subscribe(TableName(schema: "public", name: "quiet"), notify: .off)
        try db.installer.subscribe(
            TableName(schema: "public", name: "comments"), notify: .wake, condition: .set(try SubscriptionCondition("post_id = '7'")))
        // Back to version 11 as it was: no lease, no presence locks, three notify modes (and no
        // histories, version 13).
        try db.connection.execute(
            """
            delete from realtime.schema_migrations where version in (12, 13, 14, 15);
            drop table realtime.wal_capture; drop table realtime.tick_candidates; alter table realtime.log drop column lsn;
            alter table realtime.subscriptions drop column capture;
            drop table realtime.histories; alter table realtime.ticks drop column timeline, drop column history;
            drop event trigger if exists realtime_schema_changes; drop table realtime.shapes; alter table realtime.log drop column place;
            drop sequence realtime.awake_until; drop table realtime.presence_locks;
            alter table realtime.subscriptions drop constraint subscriptions_notify_check;
            alter table realtime.subscriptions add constraint subscriptions_notify_check check (notify in ('wake', 'payload', 'off'));
            alter table realtime.subscriptions alter column notify set default 'wake';
            """
        )
        let output = try BuiltExecutable.run(["init"], database: db.conninfo)
        #expect(output.status == 0)
        #expect(output.stdout.contains("upgraded pgrelay schema from version 11 to 15"), "\(output)")
        #expect(output.stdout.contains("moved 2 subscription(s) from notify wake to auto"), "\(output)")
        #expect(output.stdout.contains("public.comments, public.orders"), "\(output)")
        let modes = try db.installer.subscriptions().map { "\($0.table.name) \($0.notify) \($0.condition ?? "-")" }
        #expect(modes == ["comments auto (post_id = '7'::text)", "orders auto -", "quiet off -"])
        let arguments = try db.connection.query(
            "select tgname, encode(tgargs, 'escape') from pg_trigger where tgrelid = 'orders'::regclass and tgname like 'realtime%' order by 1"
        )
        #expect(arguments.count == 4 && arguments.allSatisfy { $0[1]?.contains("\\000auto\\000") == true }, "\(arguments)")
        try db.connection.execute("insert into orders values (1, 'a'); insert into comments values (1, '7'), (2, '8')")
        #expect(try db.ticked().read(after: 0).map { "\($0.table.name) \($0.new?["id"]?.jsonText ?? "")" } == ["orders 1", "comments 1"])
    }

    @Test func commandsBeforeInitSayToRunInit() throws {
        let db = try TestDatabase(initialized: false)
        #expect { try db.installer.subscriptions() } throws: { "\($0)".contains("run pgrelay init") }
        #expect { try db.installer.subscribe(orders) } throws: { "\($0)".contains("run pgrelay init") }
    }

    @Test func subscribeRejectsWhatIsNotATable() throws {
        let db = try TestDatabase()
        #expect { try db.installer.subscribe(orders) } throws: {
            "\($0)" == "table public.orders does not exist in database \"\(db.connection.databaseName)\""
        }
        try db.connection.execute("create view v as select 1 as x")
        #expect { try db.installer.subscribe(TableName(schema: "public", name: "v")) } throws: { "\($0)".contains("is not a table") }
        #expect { try db.installer.unsubscribe(orders) } throws: { "\($0)".contains("is not subscribed") }
    }

    @Test func resubscribingChangesEventsAndUnsubscribeKeepsTheLog() throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        try db.connection.execute("insert into orders values (1, 'a')")
        #expect(try db.installer.subscribe(orders, notify: .off).notify == .off)
        let changed = try db.installer.subscribe(orders, events: EventSet(parsing: "DELETE"))
        #expect(changed.events.description == "DELETE")
        #expect(changed.notify == .off, "changing the events keeps the notify mode")
        try db.connection.execute("insert into orders values (2, 'not captured'); delete from orders where id = 1")
        #expect(try db.ticked().read(after: 0).map(\.operation) == [.insert, .delete])
        try db.installer.unsubscribe(orders)
        try db.connection.execute("delete from orders")
        #expect(try db.installer.subscriptions().isEmpty)
        #expect(try db.ticked().read(after: 0).count == 2)
    }

    @Test func healthReportsBrokenTriggers() throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders, events: EventSet(parsing: "INSERT,TRUNCATE"))
        #expect(try db.installer.subscriptions().first?.health == "ok")
        try db.connection.execute("alter table orders disable trigger realtime_capture_insert")
        #expect(try db.installer.subscriptions().first?.health.contains("realtime_capture_insert disabled") == true)
        try db.connection.execute("drop trigger realtime_capture_truncate on orders")
        #expect(try db.installer.subscriptions().first?.health.contains("realtime_capture_truncate missing") == true)
        try db.installer.subscribe(orders, events: EventSet(parsing: "INSERT,TRUNCATE"))
        #expect(try db.installer.subscriptions().first?.health == "ok")
        try db.connection.execute("drop table orders")
        #expect(try db.installer.subscriptions().first?.health.hasPrefix("table missing") == true)
    }

    @Test func aRoleWithoutPermissionGetsPostgresMessage() throws {
        let db = try TestDatabase()
        try db.connection.execute("create table orders (id int primary key, note text)")
        try db.connection.execute("drop role if exists pgrelay_nobody; create role pgrelay_nobody login")
        defer { _ = try? db.connection.execute("drop owned by pgrelay_nobody; drop role pgrelay_nobody") }
        try db.connection.execute("grant usage on schema realtime to pgrelay_nobody; grant select on all tables in schema realtime to pgrelay_nobody")
        let nobody = try Connection(conninfo: db.conninfo + " user=pgrelay_nobody")
        #expect { try Installer(connection: nobody).subscribe(orders) } throws: { error in
            (error as? PostgresError)?.sqlState == "42501" && "\(error)".contains("permission denied for table orders")
        }
    }

    @Test func connectionErrorsNameHostAndDatabase() throws {
        let cluster = try TestCluster.get()
        let missing = try TestCluster.replacingDatabase(in: cluster.adminConninfo, with: "no_such_db")
        #expect { try Connection(conninfo: missing) } throws: { error in
            let text = "\(error)"
            return text.contains("dbname=no_such_db") && text.contains("host=") && text.contains("does not exist")
        }
    }
}

@Suite struct ChangeLogTests {
    let orders = TableName(schema: "public", name: "orders")

    @Test func replayByTimeAndCleanupByAge() throws {
        let db = try TestDatabase()
        try db.subscribedTable(orders)
        // Three transactions in three ticks: cleanup deletes whole ticks.
        for (id, note) in [(1, "old"), (2, "old too"), (3, "new")] {
            try db.connection.execute("insert into orders values (\(id), '\(note)')")
            _ = try db.ticked()
        }
        let all = try db.log.read(after: 0)
        try db.connection.query("update realtime.ticks set taken_at = now() - interval '2 days' where last_id <= $1", [String(all[1].id)])
        #expect(try db.log.lastID(before: Date().addingTimeInterval(-3600)) == all[2].id - 1)
        #expect(try db.log.lastID(before: Date().addingTimeInterval(-3 * 86_400)) == all[0].id - 1)
        #expect(try db.log.lastID(before: Date().addingTimeInterval(3600)) == all[2].id)
        #expect(try db.log.deleteChanges(olderThanSeconds: 86_400) == 2)
        #expect(try db.ticked().read(after: 0).map(\.id) == [all[2].id])
        #expect(try db.ticked().newestID() == all[2].id)
        #expect(try db.log.change(id: all[0].id) == nil)
        #expect(try db.log.change(id: all[2].id)?.new?["note"] == .string("new"))
    }

    @Test func readFiltersByChannelAndPages() throws {
        let db = try TestDatabase()
        let a = try db.subscribedTable(orders)
        try db.subscribedTable(TableName(schema: "public", name: "items"))
        try db.connection.execute("insert into orders select g, 'o' from generate_series(1, 5) g; insert into items values (1, 'i')")
        #expect(try db.ticked().read(after: 0, channels: [a.channel]).count == 5)
        let page = try db.ticked().read(after: 0, limit: 2)
        #expect(page.count == 2)
        #expect(try db.ticked().read(after: page[1].id).count == 4)
        let stats = try db.log.statistics()
        #expect(stats.subscriptions == 2 && stats.changes == 6 && stats.newestID == page[0].id + 5)
    }
}
