import AsyncHTTPClient
import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Synchronization
import Testing

/// When the database's history changes under a relay: a promoted asynchronous standby that
/// missed commits a client had already received, and a base backup restored without its newest
/// WAL. In both, the client's stream ends with `event: reset`, a resume point from the lost
/// history is refused (409, with the boundary), new ids jump past the lost ones, and a live
/// query reopened after the reset equals the database the relay now reads.
@Suite(.serialized) struct HistoryTests {
    /// Runs `body` with a primary (pgrelay installed, `items` subscribed, rows 1...5 written) and
    /// its standby, caught up with them.
    func withPair(_ body: (StandbyPair, TestDatabase) async throws -> Void) async throws {
        try await StandbyPair.with(preparingPrimary: { db in
            try db.connection.execute("create table items (id int primary key, note text)")
            try db.installer.subscribe(TableName(schema: "public", name: "items"))
            try db.connection.execute("insert into items select i, 'first ' || i from generate_series(1, 5) i")
            try db.ticked()
        }) { pair, db in
            try await Self.waitForStandby(pair)
            try await body(pair, db)
        }
    }

    /// Waits until the standby has replayed everything the primary wrote so far.
    static func waitForStandby(_ pair: StandbyPair) async throws {
        let target = try await Workers.value { try Connection(conninfo: pair.primaryConninfo).query("select pg_current_wal_lsn()::text")[0][0]! }
        try await waitUntil("the standby to replay \(target)") {
            let standby = try Connection(conninfo: pair.standbyConninfo)
            return try standby.query("select pg_last_wal_replay_lsn() >= \(target)::pg_lsn")[0][0] == "t"
        }
    }

    /// Promoted after it missed commits that a client had received: the client is told, and after
    /// a live query's snapshot its rows equal the promoted database's.
    @Test(.timeLimit(.minutes(4))) func aPromotedStandbyThatMissedCommitsResetsItsClients() async throws {
        try await withPair { pair, db in
            try await TestServer.with(db, configure: { $0.conninfo = pair.failoverConninfo }) { server in
                let client = LiveClient(server: server, path: "/v1/stream/public.items?snapshot=true")
                try await client.run {
                    try await client.waitFor("the first rows") { $0.rows.count == 5 }
                    // The standby goes away; the primary commits what it will never see, and the client gets it.
                    try await Workers.value { try pair.stopStandby() }
                    try await db.execute("insert into items select i, 'lost ' || i from generate_series(6, 10) i")
                    try await db.execute("update items set note = 'lost update' where id = 1")
                    try await client.waitFor("the lost changes") { $0.rows.count == 10 && $0.rows["1"]?["note"] == .string("lost update") }
                    let lostCursor = try #require(client.state.cursor)
                    // The primary dies; the standby comes back on its own and is promoted.
                    try await Workers.value {
                        try pair.stopPrimary()
                        try pair.startStandby()
                        try pair.promoteStandby()
                    }
                    let promoted = try await Workers.value { try TestDatabase(existing: pair.standbyConninfo) }
                    try await client.waitFor("the reset") { !$0.resets.isEmpty }
                    let reset = try JSONValue(parsing: client.state.resets[0])
                    #expect(reset["lost_after"] == .number("5"), "\(reset)")
                    #expect(reset["reload"] == .bool(true))
                    #expect(reset["reason"]?.stringValue?.contains("timeline 1 to 2") == true, "\(reset)")
                    // Written on the promoted server: ids after the jump, never those of the lost changes.
                    try await promoted.execute("insert into items values (11, 'new 11'), (12, 'new 12')")
                    try await promoted.execute("update items set note = 'new update' where id = 2")
                    try await client.waitFor("the promoted server's changes") {
                        $0.rows["12"] != nil && $0.rows["2"]?["note"] == .string("new update")
                    }
                    let expected = try await Self.select(promoted)
                    #expect(client.state.rows == expected, "\(client.state.rows) vs \(expected)")
                    #expect(client.state.anomalies.isEmpty, "\(client.state.anomalies)")
                    try await Self.checkRefusals(server: server, lostCursor: lostCursor, lostAfter: 5, db: promoted)
                }
            }
        }
    }

    /// A base backup restored without its newest WAL stays on its timeline: the relay that had
    /// read the lost ids notices at its first tick that the log ends before them.
    @Test(.timeLimit(.minutes(4))) func aRestoredBackupThatLostCommitsResetsItsClients() async throws {
        try await withPair { pair, db in
            try await Workers.value {
                try pair.stopStandby()
                try pair.backupPrimary(as: "backup")
            }
            try await TestServer.with(db) { server in
                let client = LiveClient(server: server, path: "/v1/stream/public.items?snapshot=true")
                // Supabase's own client, subscribed to the table's INSERTs: it is told with a system error.
                let port = server.port
                let supabase = try await Workers.value { try PythonRealtime.start(Self.supabaseScript, ["http://127.0.0.1:\(port)/realtime/v1"]) }
                defer {
                    supabase.signal(SIGKILL)
                    _ = supabase.wait()
                }
                try await waitUntil(timeout: 60, "the Supabase client to join (\(supabase.stdoutSoFar) \(supabase.stderrSoFar))") {
                    supabase.stdoutSoFar.contains("Subscribed to PostgreSQL")
                }
                try await client.run {
                    try await client.waitFor("the first rows") { $0.rows.count == 5 }
                    try await db.execute("insert into items select i, 'lost ' || i from generate_series(6, 10) i")
                    try await db.execute("delete from items where id = 3")
                    try await client.waitFor("the lost changes") { $0.rows.count == 9 && $0.rows["10"] != nil }
                    let lostCursor = try #require(client.state.cursor)
                    try await Workers.value { try pair.restorePrimary(from: "backup") }
                    try await client.waitFor("the reset") { !$0.resets.isEmpty }
                    let reset = try JSONValue(parsing: client.state.resets[0])
                    #expect(reset["lost_after"] == .number("5"), "\(reset)")
                    #expect(reset["reason"]?.stringValue?.contains("a relay had read up to id \(lostCursor)") == true, "\(reset)")
                    try await waitUntil(timeout: 60, "the Supabase client's system error (\(supabase.stdoutSoFar))") {
                        supabase.stdoutSoFar.contains("belongs to a history of this database that was lost")
                    }
                    #expect(supabase.stdoutSoFar.contains(#""id": 10"#), "the Supabase client got the lost rows first: \(supabase.stdoutSoFar)")
                    let restored = try await Workers.value { try TestDatabase(existing: pair.primaryConninfo) }
                    try await restored.execute("insert into items values (11, 'new 11')")
                    try await client.waitFor("the restored server's change") { $0.rows["11"] != nil }
                    let expected = try await Self.select(restored)
                    #expect(client.state.rows == expected, "\(client.state.rows) vs \(expected)")
                    #expect(client.state.rows["3"] != nil && client.state.rows["10"] == nil)
                    try await Self.checkRefusals(server: server, lostCursor: lostCursor, lostAfter: 5, db: restored)
                }
            }
        }
    }

    /// The official Python client: prints each INSERT's record and each system message.
    static let supabaseScript = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            client = AsyncRealtimeClient(sys.argv[1], None, auto_reconnect=False, timeout=60)
            await client.connect()
            channel = client.channel("items")
            channel.on_postgres_changes("INSERT", table="items", callback=lambda p: out(item=p["data"]["record"]))
            channel.on_system(lambda p: out(system=p.get("message") if isinstance(p, dict) else getattr(p, "message", str(p))))
            await channel.subscribe(lambda state, error: out(state=getattr(state, "value", str(state)), error=str(error) if error else None))
            await asyncio.sleep(150)

        asyncio.run(main())
        """#

    /// After the boundary: new ids are past the lost ones and below 2^53; a resume point of the
    /// lost history is refused with the boundary (SSE, pages), one before it is served, and a page
    /// that is complete is served only at its history's URL.
    static func checkRefusals(server: TestServer, lostCursor: Int64, lostAfter: Int64, db: TestDatabase) async throws {
        let ids = try await Workers.value { try db.ticked().read(after: 0, limit: 100).map(\.id) }
        #expect(ids.prefix(5) == [1, 2, 3, 4, 5])
        let newIDs = ids.dropFirst(5)
        #expect(!newIDs.isEmpty && newIDs.allSatisfy { $0 > lostCursor + (1 << 40) - 100 && $0 < (1 << 53) }, "\(ids)")
        let refused = try await server.get("/v1/changes/public.items?since=\(lostCursor)")
        #expect(refused.status == 409, "\(refused)")
        let body = try JSONValue(parsing: refused.body)
        #expect(body["lost_after"] == .number(String(lostAfter)) && body["since"] == .number(String(newIDs.last!)), "\(body)")
        let stream = try await server.stream("/v1/stream/public.items", lastEventID: lostCursor, count: 1, timeout: 10)
        #expect(stream.status == 409)
        // The native socket's error carries the same members.
        let port = server.port
        let probe = try await Workers.value { try WebSocketProbe(port: port, path: "/v1/ws") }
        probe.send(text: #"{"type":"subscribe","id":"s1","table":"public.items","since":\#(lostCursor)}"#)
        let refusedSocket = try await Workers.value { probe.read(timeout: 30) { $0.messages.contains { $0.contains(#""type":"error""#) } } }
        let error = try JSONValue(parsing: refusedSocket.messages.last ?? "null")
        #expect(error["reload"] == .bool(true) && error["lost_after"] == .number(String(lostAfter)), "\(refusedSocket.messages)")
        // Before the boundary: the new history's changes, across the gap.
        let page = try await server.get("/v1/changes/public.items?since=\(lostAfter)")
        #expect(page.status == 200, "\(page)")
        let served = try JSONValue(parsing: page.body)
        #expect(served["changes"]?.arrayValue?.compactMap { $0["id"]?.jsonText } == newIDs.map(String.init))
        // A complete page lives at its history's URL: asked without it, a redirect there.
        let history = try #require(served["history"]?.stringValue)
        let redirect = try await Workers.value { try httpGET(port: port, "/v1/changes/public.items?since=0&limit=2") }
        let location = redirect.headers.first { $0.key.lowercased() == "location" }?.value
        #expect(redirect.status == 307 && location == "/v1/changes/public.items?since=0&limit=2&history=\(history)", "\(redirect)")
    }

    /// The rows of `items` now, by id, as `row_to_json` renders them.
    static func select(_ db: TestDatabase) async throws -> [String: JSONValue] {
        var rows: [String: JSONValue] = [:]
        for row in try await db.query("select id::text, row_to_json(t)::text from items t") { rows[row[0]!] = try JSONValue(parsing: row[1]!) }
        return rows
    }
}

/// A live-query client over SSE that reloads when told to: it opens the stream with a snapshot,
/// applies rows and changes, and on `event: reset` opens a new live query (as a client that
/// reloads does). What it has is readable from the test while it runs.
final class LiveClient: Sendable {
    struct State {
        var rows: [String: JSONValue] = [:]
        var cursor: Int64?
        var resets: [String] = []
        var anomalies: [String] = []
        /// Why streams ended otherwise (an `event: error`, a failed request).
        var failures: [String] = []
    }

    let server: TestServer
    let path: String
    private let box = Mutex(State())

    init(server: TestServer, path: String) {
        self.server = server
        self.path = path
    }

    var state: State { box.withLock { $0 } }

    /// Runs the client beside `body`; the client ends with it.
    func run(_ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.follow() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    /// Waits until the client's state satisfies `condition`.
    func waitFor(_ what: String, timeout: Double = 90, _ condition: @escaping (State) -> Bool) async throws {
        try await waitUntil(
            timeout: timeout, "the client to have \(what): \(state.rows.count) rows, resets \(state.resets), failures \(state.failures)"
        ) {
            condition(state)
        }
    }

    private func follow() async throws {
        while !Task.isCancelled {
            var request = HTTPClientRequest(url: server.base + path)
            request.headers.add(name: "Accept", value: "text/event-stream")
            var copy = LiveRows()
            do {
                let response = try await TestServer.client.execute(request, timeout: .seconds(240))
                guard response.status == .ok else {
                    // The relay is between servers (a failover): try again, as EventSource does.
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                var pending = ""
                for try await buffer in response.body {
                    pending += String(buffer: buffer)
                    while let end = pending.range(of: "\n\n") {
                        let block = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        if block.hasPrefix("event: reset\n") {
                            box.withLock { $0.resets.append(String(block.dropFirst("event: reset\ndata: ".count))) }
                            continue
                        }
                        try copy.apply(block)
                        if copy.snapshotEnded {
                            box.withLock {
                                $0.rows = copy.rows
                                $0.cursor = copy.cursor
                                $0.anomalies = copy.anomalies
                            }
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                box.withLock { $0.failures.append("\(error)") }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
