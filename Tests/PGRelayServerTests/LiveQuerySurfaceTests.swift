import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Each surface of a live query, its refusals and its limits; the property itself is
/// ``LiveQueryTests``.
@Suite struct LiveQuerySurfaceTests {
    static func database() async throws -> TestDatabase {
        try await TestDatabase.make { db in
            try db.connection.execute(
                """
                create table items (id int primary key, status text, at timestamptz, ratio float8, raw bytea, span interval);
                insert into items select g, case when g % 2 = 0 then 'open' else 'closed' end, '2026-01-02 03:04:05.678+01', 0.1 * g, '\\x00ff', '1 day 2 hours'
                  from generate_series(1, 40) g;
                create table legacy (id int primary key, note text);
                create table loose (a int, b text);
                """
            )
            try db.installer.subscribe(TableName(schema: "public", name: "items"))
            try db.installer.subscribe(TableName(schema: "public", name: "legacy"), events: .init(operations: [.insert, .update, .delete]))
            try db.installer.subscribe(TableName(schema: "public", name: "loose"))
        }
    }

    /// The rows of `/v1/rows` are the rows `SELECT` selects, rendered as capture renders a change's
    /// `new`, and `after` is where the changes continue: a row changed later arrives as a change after it.
    @Test func rowsAreTheQuerysRowsAsCaptureRendersThemAndAfterIsTheCut() async throws {
        let db = try await Self.database()
        try await TestServer.with(db) { server in
            let answer = try await server.get("/v1/rows/public.items?status=eq.open")
            #expect(answer.status == 200 && answer.headers["content-type"] == "application/json")
            let body = try JSONValue(parsing: answer.body)
            let rows = body["rows"]?.arrayValue ?? []
            #expect(rows.count == 20)
            // As capture renders a change's new: write one and compare it with its row.
            try await db.execute("update items set status = 'open' where id = 2")
            let change = try db.ticked().read(after: 0).last!
            #expect(rows.first { $0["id"] == .number("2") } == change.new, "\(answer.body)")
            guard case .number(let after)? = body["after"], let cut = Int64(after) else {
                Issue.record("no after in \(answer.body)")
                return
            }
            #expect(change.id == cut + 1)
            let expected = try await db.query("select row_to_json(t)::text from items t where status = 'open' order by id").map {
                try JSONValue(parsing: $0[0]!)
            }
            #expect(rows.sorted { Int($0["id"]!.jsonText)! < Int($1["id"]!.jsonText)! } == expected)
        }
    }

    @Test func aLiveQueryThatCannotKeepItsRowsRightIsRefused() async throws {
        let db = try await Self.database()
        try await TestServer.with(db) { server in
            let since = try await server.get("/v1/stream/public.items?snapshot=true&since=1")
            #expect(since.status == 400 && since.body.contains("drop since"), "\(since.body)")
            let events = try await server.get("/v1/stream/public.items?snapshot=true&events=INSERT")
            #expect(events.status == 400 && events.body.contains("every kind of change"), "\(events.body)")
            let bad = try await server.get("/v1/stream/public.items?snapshot=yes")
            #expect(bad.status == 400 && bad.body.contains("snapshot must be true or false"))
            let noTruncate = try await server.get("/v1/rows/public.legacy")
            #expect(
                noTruncate.status == 400 && noTruncate.body.contains("pgrelay subscribe public.legacy INSERT,UPDATE,DELETE,TRUNCATE"),
                "\(noTruncate.body)")
            let unknown = try await server.get("/v1/rows/public.items?colour=eq.red")
            #expect(unknown.status == 400 && unknown.body.contains("colour"), "\(unknown.body)")
        }
    }

    /// Past `limits.snapshot_rows` every surface ends with an error naming the limit, never with
    /// what could pass for a whole snapshot.
    @Test func aSnapshotPastItsRowLimitEndsWithAnErrorNotACutSnapshot() async throws {
        let db = try await Self.database()
        try await TestServer.with(db, configure: { $0.limits.snapshotRows = 5 }) { server in
            let rows = try await server.get("/v1/rows/public.items")
            let body = try JSONValue(parsing: rows.body)
            #expect(body["after"] == nil && body["error"]?["error"]?.stringValue?.contains("limits.snapshot_rows") == true, "\(rows.body)")
            let stream = try await server.stream("/v1/stream/public.items?snapshot=true", count: 1, timeout: 30) { $0.raw.contains("event: error") }
            #expect(stream.raw.contains("limits.snapshot_rows") && !stream.raw.contains("event: snapshot"), "\(stream.raw)")
            // A filter that selects fewer rows than the limit is served.
            let few = try await server.get("/v1/rows/public.items?id=lte.3")
            #expect(try JSONValue(parsing: few.body)["rows"]?.arrayValue?.count == 3)
        }
    }

    /// A snapshot that takes longer than `limits.snapshot_seconds` ends with an error naming it.
    @Test func aSnapshotPastItsDeadlineEndsWithAnErrorNamingIt() async throws {
        let db = try await Self.database()
        try await db.execute("insert into items select g, 'open', now(), 0, '\\x00', '1 day' from generate_series(100, 20000) g")
        try await TestServer.with(db, configure: { $0.limits.snapshotSeconds = 0.001 }) { server in
            let rows = try await server.get("/v1/rows/public.items")
            let body = try JSONValue(parsing: rows.body)
            #expect(
                body["after"] == nil && body["error"]?["error"]?.stringValue?.contains("limits.snapshot_seconds") == true, "\(rows.body.suffix(300))")
        }
    }

    /// SSE: one `event: row` per row (no id), `event: snapshot` with the cut as its id, then the
    /// changes after it; a client that reconnects with that id gets only changes.
    @Test func sseSendsRowsThenTheSnapshotThenTheChanges() async throws {
        let db = try await Self.database()
        try await TestServer.with(db) { server in
            let first = try await server.stream("/v1/stream/public.items?snapshot=true&id=lte.4", count: 1, timeout: 30) {
                $0.raw.contains("event: live")
            }
            let raw = first.raw
            #expect(raw.components(separatedBy: "event: row\ndata: ").count - 1 == 4, "\(raw)")
            guard let range = raw.range(of: #"id: (\d+)\nevent: snapshot\ndata: \{"after":\d+,"rows":4\}"#, options: .regularExpression) else {
                Issue.record("no snapshot event in \(raw)")
                return
            }
            let cut = Int64(raw[range].dropFirst(4).prefix { $0.isNumber })!
            #expect(!raw[..<range.lowerBound].contains("id: "), "rows carry no id")
            try await db.execute("update items set status = 'moved' where id = 3")
            let resumed = try await server.stream("/v1/stream/public.items?snapshot=true&id=lte.4", lastEventID: cut, count: 1, timeout: 30)
            #expect(!resumed.raw.contains("event: row") && resumed.events.map { $0.change.new?["id"] } == [.number("3")], "\(resumed.raw)")
        }
    }

    /// The native socket: `row` messages, `snapshot`, then `live` and the changes.
    @Test func theNativeSocketSendsRowsThenTheSnapshotThenTheChanges() async throws {
        let db = try await Self.database()
        try await TestServer.with(db) { server in
            let port = server.port
            let probe = try await Workers.value { try WebSocketProbe(port: port, path: "/v1/ws") }
            probe.send(text: #"{"type":"subscribe","id":"s1","table":"public.items","filter":"id=lte.2","snapshot":true}"#)
            let seen = try await Workers.value { probe.read(timeout: 30) { $0.messages.contains { $0.contains(#""type":"live""#) } } }
            let types = seen.messages.map { try? JSONValue(parsing: $0)["type"]?.stringValue }
            #expect(types == ["subscribed", "row", "row", "snapshot", "live"], "\(seen.messages)")
            // Already failed above when fewer came: indexing past them would end the test process.
            guard seen.messages.count >= 5 else { return }
            #expect(seen.messages[1].hasPrefix(#"{"type":"row","subscription":"s1","row":{"id":1,"#), "\(seen.messages)")
            #expect(seen.messages[3].contains(#""rows":2"#))
            try await db.execute("delete from items where id = 1")
            let after = try await Workers.value { probe.read(timeout: 30) { $0.messages.contains { $0.contains(#""operation":"DELETE""#) } } }
            #expect(after.messages.last?.contains(#""type":"change","subscription":"s1""#) == true)
            probe.send(text: #"{"type":"subscribe","id":"s2","table":"public.items","snapshot":true,"since":3}"#)
            let refused = try await Workers.value { probe.read(timeout: 30) { $0.messages.contains { $0.contains(#""id":"s2""#) } } }
            #expect(refused.messages.last?.contains("drop since") == true, "\(refused.messages)")
        }
    }

    /// A keyless table's rows have no key: a client matches a change to its copy by the whole old
    /// row (which a keyless table's UPDATE and DELETE carry), and its rows, as a multiset, equal the table's.
    @Test func aKeylessTablesCopyIsKeptByWholeRows() async throws {
        let db = try await Self.database()
        try await db.execute("insert into loose values (1, 'a'), (1, 'a'), (2, 'b')")
        try await TestServer.with(db) { server in
            let first = try await server.stream("/v1/stream/public.loose?snapshot=true", count: 1, timeout: 30) { $0.raw.contains("event: live") }
            var rows = first.raw.components(separatedBy: "event: row\ndata: ").dropFirst().map {
                try! JSONValue(parsing: String($0.prefix { $0 != "\n" }))
            }
            #expect(rows.count == 3)
            let cut = first.raw.range(of: #"id: \d+\nevent: snapshot"#, options: .regularExpression).map {
                Int64(first.raw[$0].dropFirst(4).prefix { $0.isNumber })!
            }!
            try await db.execute(
                "update loose set b = 'c' where b = 'b'; delete from loose where ctid = (select min(ctid) from loose where a = 1); insert into loose values (3, 'd')"
            )
            let changes = try await server.stream("/v1/stream/public.loose", lastEventID: cut, count: 3, timeout: 30)
            for change in changes.events.map(\.change) {
                if let old = change.old, let index = rows.firstIndex(of: old) { rows.remove(at: index) }
                if let new = change.new { rows.append(new) }
            }
            let expected = try await db.query("select row_to_json(t)::text from loose t").map { try JSONValue(parsing: $0[0]!) }
            #expect(rows.map(\.jsonText).sorted() == expected.map(\.jsonText).sorted())
        }
    }
}
