import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// The delivery engine end to end: the log as the only truth, the shared Tail and cursors,
/// resilience, retention and the live marker, through real sockets.
@Suite struct DeliveryTests {
    static let relayed = TableName(schema: "public", name: "relayed")

    static func count(of value: JSONValue?) -> Int? {
        if case .array(let items)? = value { return items.count }
        return nil
    }

    func relayedDatabase() async throws -> TestDatabase {
        try await TestDatabase.make { db in
            try db.connection.execute("create table relayed (id int primary key, note text)")
            try db.installer.subscribe(Self.relayed)
        }
    }

    /// 20 transactions of 1,000 rows while 50 SSE readers read as fast as they can: every reader
    /// gets all 20,000 changes in id order, and none is disconnected. The Tail holds 2,000, so
    /// readers that fall behind read the log, and come back.
    @Test(.timeLimit(.minutes(5))) func aBurstReachesFiftyReadersCompleteAndInOrder() async throws {
        let db = try await relayedDatabase()
        try await TestServer.with(db, configure: { $0.tail = .init(changes: 2000) }) { server in
            let readers = try (0..<50).map { _ in try SSEReader(port: server.port, path: "/v1/stream/public.relayed") }
            try await Workers.run(50) { index in readers[index].read(timeout: 120) { $0.liveAfter != nil } }
            #expect(readers.allSatisfy { $0.seen.liveAfter != nil })
            let conninfo = db.conninfo
            try await Workers.run(51) { index in
                if index == 50 {
                    let writer = try Connection(conninfo: conninfo)
                    for t in 0..<20 {
                        try writer.execute("insert into relayed select g, 'n' from generate_series(\(t * 1000 + 1), \(t * 1000 + 1000)) g")
                    }
                } else {
                    readers[index].read(timeout: 120) { $0.changeIDs.count >= 20_000 }
                }
            }
            let all = try await Workers.value { try db.ticked().read(after: 0, limit: 20_000).map(\.id) }
            #expect(all.count == 20_000)
            for reader in readers {
                #expect(reader.seen.changeIDs == all, "got \(reader.seen.changeIDs.count)")
                #expect(!reader.seen.closed && reader.seen.errors.isEmpty)
            }
        }
    }

    /// A NOTIFY on the table's channel, with a huge id and with a fake row, injects nothing and
    /// suppresses nothing: the next real change arrives with its real id.
    @Test func aForgedNotifyChangesNothing() async throws {
        let db = try await relayedDatabase()
        try await TestServer.with(db) { server in
            let reader = try SSEReader(port: server.port, path: "/v1/stream/public.relayed")
            let live = try await Workers.value { reader.read(timeout: 20) { $0.liveAfter != nil } }
            let channel = try db.installer.subscriptions(for: [Self.relayed])[0].channel
            let forger = try db.connect()
            let fake =
                #"{"id":999999999,"timestamp":"2026-01-01T00:00:00Z","operation":"INSERT","schema":"public","table":"relayed","new":{"id":666,"note":"forged"},"old":null}"#
            try forger.query("select pg_notify($1, $2)", [channel, fake])
            try forger.query("select pg_notify($1, $2)", [channel, #"{"id":999999999}"#])
            try forger.query("select pg_notify($1, $2)", [channel, "not json at all"])
            try await db.execute("insert into relayed values (1, 'real')")
            let seen = try await Workers.value { reader.read(timeout: 20) { $0.changeIDs.count >= 1 } }
            let real = try db.ticked().read(after: 0)
            #expect(seen.changeIDs == real.map(\.id))
            #expect(real.map(\.id).allSatisfy { $0 > live.liveAfter! && $0 < 999_999_999 })
            let health = try await server.health()
            #expect(health["delivered_id"] == .number(String(real.last!.id)))
        }
    }

    /// A partitioned table streams live and replays; so does a table renamed after subscribing,
    /// under its new name, with its old changes.
    @Test func partitionedAndRenamedTablesStreamLiveAndInReplay() async throws {
        let db = try await TestDatabase.make()
        try await db.execute(
            """
            create table measurements (id int, region text, value int, primary key (id, region)) partition by list (region);
            create table measurements_eu partition of measurements for values in ('eu');
            create table measurements_us partition of measurements for values in ('us');
            create table before_rename (id int primary key, note text);
            """
        )
        let parent = TableName(schema: "public", name: "measurements")
        try db.installer.subscribe(parent)
        try db.installer.subscribe(TableName(schema: "public", name: "before_rename"))
        try await db.execute("insert into measurements values (1, 'eu', 0), (2, 'us', 0)")
        try await db.execute("insert into before_rename values (1, 'old name')")
        try await db.execute("alter table before_rename rename to after_rename")
        try await db.execute("insert into after_rename values (2, 'new name')")
        try await TestServer.with(db) { server in

            let partitionsTask = Task { try await server.stream("/v1/stream/public.measurements?since=0", count: 4) }
            // The rename is an event between the first row and the second.
            let renamed = Task { try await server.stream("/v1/stream/public.after_rename?since=0", count: 4) }
            try await server.waitForHealth { $0["subscribers"] == .number("2") }
            try await db.execute("insert into measurements values (3, 'us', 0)")
            try await db.execute("update measurements set value = 5 where id = 1")
            try await db.execute("insert into after_rename values (3, 'live')")
            let renamedResult = try await renamed.value
            let partitions = try await partitionsTask.value
            #expect(partitions.events.map { $0.change.table } == Array(repeating: parent, count: 4))
            #expect(partitions.events.map { $0.change.operation } == [.insert, .insert, .insert, .update])
            #expect(partitions.events.map { $0.change.new?["id"] } == ["1", "2", "3", "1"].map { .number($0) })
            #expect(
                renamedResult.events.map { $0.change.operation == .schema ? "SCHEMA" : $0.change.new?["id"]?.jsonText ?? "" } == [
                    "1", "SCHEMA", "2", "3",
                ])
            // Each names the table as it was then: the history before the rename keeps its old name.
            #expect(
                renamedResult.events.map(\.change.table.name) == ["before_rename", "after_rename", "after_rename", "after_rename"],
                "\(renamedResult.raw)")
            #expect(try await server.get("/v1/stream/public.before_rename").status == 404)
        }
    }

    /// The listener's query is cancelled, a log row cannot be decoded, then every backend is
    /// terminated (what a Postgres restart does to the relay): the relay keeps going, /health
    /// says why meanwhile, and a stream that stays open gets every change once, in order.
    @Test(.timeLimit(.minutes(2))) func theListenerSurvivesACancelABadRowAndLostConnections() async throws {
        let db = try await relayedDatabase()
        try await TestServer.with(db) { server in
            let reader = try SSEReader(port: server.port, path: "/v1/stream/public.relayed?since=0")
            try await Workers.run(1) { _ in reader.read(timeout: 20) { $0.liveAfter != nil } }
            // Hold the listener's tick on a lock, and cancel it there.
            let locker = try db.connect()
            try locker.execute("begin; lock table realtime.ticks in access exclusive mode")
            try await db.execute("insert into relayed values (1, 'during the lock')")
            let listenerWaits =
                "select count(*) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database() and wait_event_type = 'Lock'"
            try await waitUntil("the listener to wait on the lock") { try db.connection.query(listenerWaits, []).first?[0] == "1" }
            try db.connection.query(
                "select pg_cancel_backend(pid) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()")
            try locker.execute("commit")
            // A row someone wrote straight into the log, that no decoder understands: skipped, ids kept.
            let channel = try db.installer.subscriptions(for: [Self.relayed])[0].channel
            try db.connection.query("insert into realtime.log (channel, n, record) values ($1, 1, '{\"operation\":\"BOGUS\"}')", [channel])
            try await db.execute("insert into relayed values (2, 'after cancel')")
            var seen = try await Workers.value { reader.read(timeout: 20) { $0.changeIDs.count >= 2 } }
            #expect(seen.changeIDs.count == 2)
            // Every backend but the test's own two (its connection and its Database's).
            try db.connection.query(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name <> 'pgrelay test'"
            )
            try await db.execute("insert into relayed values (3, 'after the connections were lost')")
            try await server.waitForHealth { $0["listener"] == .bool(true) && $0["status"] == .string("ok") }
            seen = try await Workers.value { reader.read(timeout: 30) { $0.changeIDs.count >= 3 } }
            let page = try db.ticked().page(after: 0)
            let all = page.changes.map(\.event.id)
            #expect(page.undecodable.count == 1)
            #expect(seen.changeIDs == all && all.count == 3)
            #expect(!seen.closed)
            let metrics = try await server.get("/metrics").body
            #expect(!metrics.contains("pgrelay_listener_reconnects_total 0"), "\(metrics)")
        }
    }

    /// A reader whose socket is not read while 200 large changes go by, with a Tail of 10: the
    /// others get everything meanwhile, and it gets everything, in order, when it reads again.
    @Test(.timeLimit(.minutes(4))) func aPausedReaderGetsEverythingLaterAndNobodyWaitsForIt() async throws {
        let db = try await TestDatabase.make()
        try await db.execute("create table blobs (id int primary key, body text)")
        try db.installer.subscribe(TableName(schema: "public", name: "blobs"))
        // The pause may outlast limits.replay_stall_seconds on a busy machine: that rule has its own test.
        try await TestServer.with(
            db,
            configure: {
                $0.tail = .init(changes: 10)
                $0.limits.replayStallSeconds = 600
            }
        ) { server in
            let paused = try SSEReader(port: server.port, path: "/v1/stream/public.blobs", receiveBuffer: 4096)
            let other = try SSEReader(port: server.port, path: "/v1/stream/public.blobs")
            try await Workers.run(2) { index in [paused, other][index].read(timeout: 20) { $0.liveAfter != nil } }
            let conninfo = db.conninfo
            try await Workers.run(2) { index in
                if index == 0 {
                    let writer = try Connection(conninfo: conninfo)
                    for i in 1...200 { try writer.execute("insert into blobs values (\(i), repeat('x', 100000))") }
                } else {
                    // 20 MB while the whole suite runs: a busy machine took longer than 60 s once.
                    other.read(timeout: 150) { $0.changeIDs.count >= 200 }
                }
            }
            #expect(other.seen.changeIDs.count == 200)
            #expect(paused.seen.changeIDs.count < 200)
            let all = try db.ticked().read(after: 0, limit: 1000).map(\.id)
            // 20 MB through a 4 KB receive buffer, from the log: on a busy machine (debug build, the
            // whole suite at once) that took longer than 60 s once, in order and with nothing lost.
            try await Workers.run(1) { _ in paused.read(timeout: 150) { $0.changeIDs.count >= 200 } }
            #expect(paused.seen.changeIDs == all)
            #expect(other.seen.changeIDs == all)
            #expect(!paused.seen.closed)
        }
    }

    /// After cleanup, a `since` older than what is kept gets 410 with the oldest id kept, on the
    /// SSE stream, the JSON page, and the WebSocket; a `since` at the edge works.
    @Test func aSinceOlderThanCleanupKeptIsGone() async throws {
        let db = try await relayedDatabase()
        for i in 1...3 { try await db.execute("insert into relayed values (\(i), 'old')") }
        let old = try db.ticked().read(after: 0).map(\.id)
        try await db.execute("update realtime.ticks set taken_at = taken_at - interval '2 hours'")
        try await db.execute("insert into relayed values (4, 'new')")
        _ = try db.ticked()
        #expect(try db.log.deleteChanges(olderThanSeconds: 3600) == 3)
        try await TestServer.with(db) { server in
            let kept = try db.log.retainedAfter()
            #expect(kept == old.last!)
            let stream = try await server.get("/v1/stream/public.relayed?since=0")
            #expect(stream.status == 410)
            let body = try JSONValue(parsing: stream.body)
            #expect(body["oldest_id"] == .number(String(kept + 1)) && body["since"] == .number(String(kept)))
            #expect(try await server.get("/v1/changes/public.relayed?since=\(old[0])").status == 410)
            let page = try await server.get("/v1/changes/public.relayed?since=\(kept)")
            let pageBody = try JSONValue(parsing: page.body)
            #expect(page.status == 200 && Self.count(of: pageBody["changes"]) == 1)
            let edge = try await server.stream("/v1/stream/public.relayed?since=\(kept)", count: 1)
            #expect(edge.events.map { $0.change.new?["id"] } == [.number("4")])
        }
    }

    /// A new stream's first message is the live marker; a change committed right after it
    /// arrives is delivered, and reconnecting with the marker's id as Last-Event-ID loses nothing.
    @Test func aNewStreamSaysWhereItIsLiveFrom() async throws {
        let db = try await relayedDatabase()
        try await db.execute("insert into relayed values (1, 'before')")
        try await TestServer.with(db) { server in
            let reader = try SSEReader(port: server.port, path: "/v1/stream/public.relayed")
            let live = try await Workers.value { reader.read(timeout: 20) { $0.liveAfter != nil } }
            #expect(live.liveAt == 0 && live.changeIDs.isEmpty)
            try await db.execute("insert into relayed values (2, 'right after')")
            let seen = try await Workers.value { reader.read(timeout: 20) { $0.changeIDs.count >= 1 } }
            let all = try db.ticked().read(after: 0).map(\.id)
            #expect(seen.changeIDs == [all[1]])
            #expect(live.liveAfter! >= all[0] && live.liveAfter! < all[1])
            let resumed = try SSEReader(port: server.port, path: "/v1/stream/public.relayed", lastEventID: live.liveAfter)
            let replay = try await Workers.value { resumed.read(timeout: 20) { $0.liveAfter != nil } }
            #expect(replay.changeIDs == [all[1]] && replay.liveAt == 1)
        }
    }

    /// An operand that is not a value of its column's type is refused when the stream starts (as
    /// Postgres refuses the query); a filter that cannot be evaluated against a row (ordering a
    /// JSON object) ends its stream with an error saying so; the others keep receiving.
    @Test func aFilterThatCannotBeEvaluatedEndsOnlyItsStream() async throws {
        let db = try await relayedDatabase()
        try await db.execute("alter table relayed add column doc jsonb")
        try await TestServer.with(db) { server in
            let refused = try await server.get("/v1/stream/public.relayed?id=gt.abc")
            #expect(refused.status == 400)
            #expect(refused.body.contains("filter on column 'id': 'abc' is not a whole number"), "\(refused.body)")
            let broken = try SSEReader(port: server.port, path: "/v1/stream/public.relayed?doc=gt.5")
            let fine = try SSEReader(port: server.port, path: "/v1/stream/public.relayed?id=gt.1")
            try await Workers.run(2) { index in [broken, fine][index].read(timeout: 20) { $0.liveAfter != nil } }
            for i in 1...3 { try await db.execute("insert into relayed values (\(i), 'x', '{\"a\":1}')") }
            try await Workers.run(2) { index in
                if index == 0 { broken.read(timeout: 20) { $0.closed } } else { fine.read(timeout: 20) { $0.changeIDs.count >= 2 } }
            }
            #expect(broken.seen.closed && broken.seen.changeIDs.isEmpty)
            #expect(broken.seen.errors.first?.contains("cannot be evaluated") == true, "\(broken.seen.errors)")
            #expect(fine.seen.changeIDs.count == 2 && !fine.seen.closed)
            #expect(try await server.health()["subscribers"] == .number("1"))
        }
    }
}

@Suite struct DeadConnectionTests {
    /// The network to Postgres goes silent (a proxy stops forwarding but keeps the sockets open):
    /// the listener notices within its answer timeout, /health says "listener disconnected", and
    /// when the network is back the relay reconnects and streams what was written meanwhile.
    @Test(.timeLimit(.minutes(2))) func aSilentConnectionIsNoticedAndReplaced() async throws {
        let db = try await DeliveryTests().relayedDatabase()
        // A URI cannot take the proxy's host and port after it; the throwaway cluster's key=value form can.
        guard !db.conninfo.contains("://") else { return }
        let proxy = try FreezableProxy(to: db.connection)
        defer { proxy.stop() }
        try await TestServer.with(
            db,
            configure: { configuration in
                configuration.conninfo = db.conninfo + " host=127.0.0.1 port=\(proxy.port)"
                configuration.listenerAnswerTimeout = 2
                configuration.pool.statementTimeoutMilliseconds = 1000
            }
        ) { server in
            let reader = try SSEReader(port: server.port, path: "/v1/stream/public.relayed")
            try await Workers.run(1) { _ in reader.read(timeout: 20) { $0.liveAfter != nil } }
            proxy.freeze()
            try await db.execute("insert into relayed values (1, 'while silent')")
            try await server.waitForHealth(timeout: 30) { health in
                health["listener"] == .bool(false) && health["error"]?.stringValue?.contains("listener disconnected") == true
            }
            proxy.thaw()
            try await server.waitForHealth(timeout: 30) { $0["status"] == .string("ok") }
            let seen = try await Workers.value { reader.read(timeout: 30) { $0.changeIDs.count >= 1 } }
            #expect(seen.changeIDs == (try db.ticked().read(after: 0).map(\.id)))
        }
    }
}
