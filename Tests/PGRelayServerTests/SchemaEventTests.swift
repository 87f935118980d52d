import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Synchronization
import Testing

/// A change to a subscribed table's columns, name or existence is a SCHEMA event at its place in
/// the log: every row before it has the old shape, every row after it the new one. Checked as a
/// property over every event a stream gets (each row's columns are those of the last shape it
/// was told, and the table's name then), with a writer running through ADD, RENAME and ALTER TYPE of a column, DROP of a
/// column, RENAME of the table and DROP of the table; with the event trigger (a superuser
/// install) and without it (ticks log them).
@Suite struct SchemaEventTests {
    static let items = TableName(schema: "public", name: "items")

    @Test(.timeLimit(.minutes(4))) func withTheEventTrigger() async throws {
        try await run(eventTrigger: true)
    }

    @Test(.timeLimit(.minutes(4))) func withoutTheEventTrigger() async throws {
        try await run(eventTrigger: false)
    }

    /// With the event trigger: pgrelay installed by a superuser. Without: installed, subscribed
    /// and served by a role that is no superuser and owns the table (what `subscribe` needs),
    /// while a superuser writes and alters it.
    func run(eventTrigger: Bool) async throws {
        let owner = "pgrelay_owner_\(UInt32.random(in: 0...UInt32.max))"
        let db = try await TestDatabase.make(initialized: eventTrigger) { db in
            try db.connection.execute("create table items (id int primary key, note text, qty int)")
            if eventTrigger {
                try db.installer.subscribe(Self.items)
            } else {
                try db.connection.execute(
                    """
                    create role \(owner) login; grant create on database \(db.connection.databaseName) to \(owner);
                    alter table items owner to \(owner)
                    """)
            }
        }
        // libpq takes the last of a keyword given twice.
        let ownerConninfo = db.conninfo + " user=\(owner)"
        if !eventTrigger {
            let installed = try await Workers.value { try BuiltExecutable.run(["init"], database: ownerConninfo) }
            #expect(installed.status == 0, "\(installed)")
            let subscribed = try await Workers.value { try BuiltExecutable.run(["subscribe", "public.items"], database: ownerConninfo) }
            #expect(subscribed.status == 0, "\(subscribed)")
        }
        let triggers = try await db.query("select count(*) from pg_event_trigger where evtname = 'realtime_schema_changes'")
        #expect(triggers[0][0] == (eventTrigger ? "1" : "0"))
        try await TestServer.with(db, configure: { if !eventTrigger { $0.conninfo = ownerConninfo } }) { server in
            let unfiltered = Task { try await server.stream("/v1/stream/public.items", count: Int.max, timeout: 150) { $0.others.contains("error") } }
            let filtered = Task {
                try await server.stream("/v1/stream/public.items?id=lt.0", count: Int.max, timeout: 150) { $0.others.contains("error") }
            }
            try await server.waitForHealth { $0["subscribers"] == .number("2") }
            // A writer that inserts all along, naming only the key: it fits every shape but the last.
            let conninfo = db.conninfo
            let stop = StopFlag()
            let writer = Task {
                try await Workers.value {
                    let connection = try Connection(conninfo: conninfo)
                    var id = 1
                    var table = "items"
                    while !stop.isSet {
                        do {
                            try connection.execute("insert into \(table) (id) values (\(id))")
                        } catch let error as PostgresError where table == "items" && error.message.contains("does not exist") {
                            table = "goods"  // renamed under the writer
                            continue
                        }
                        id += 1
                        // A bounded load (about 500 rows a second): the streams keep up on a busy machine.
                        Thread.sleep(forTimeInterval: 0.002)
                    }
                    return id - 1
                }
            }
            let steps = [
                "alter table items add column memo text",
                "alter table items rename column note to title",
                "alter table items alter column qty type text using qty::text",
                "alter table items drop column memo",
                "alter table items rename to goods",
            ]
            for step in steps {
                try await waitForRows(db, more: 20)
                try await db.execute(step)
                // Without the event trigger, DDLs that commit between two ticks are one event: two
                // ticks after each (the first may have taken its snapshot before it).
                try await waitForTicks(db, 2)
            }
            try await waitForRows(db, table: "goods", more: 20)
            // The old name is answered with the new one.
            let old = try await server.get("/v1/stream/public.items")
            #expect(old.status == 404 && old.body.contains("was renamed to public.goods"), "\(old)")
            stop.set()
            let written = try await writer.value
            // A client away all along reads the same history from the start.
            let away = Task {
                try await server.stream("/v1/stream/public.goods?since=0", count: Int.max, timeout: 150) { $0.others.contains("error") }
            }
            try await server.waitForHealth { $0["subscribers"] == .number("3") }
            try await db.execute("drop table goods")
            let streams = [try await unfiltered.value, try await away.value]
            for stream in streams {
                let schemas = try Self.checkShapes(stream)
                #expect(stream.events.filter { $0.change.operation == .insert }.count == written)
                #expect(schemas.count == steps.count + 1, "\(schemas.map(\.event))")
                try Self.checkSteps(schemas.map(\.change))
                #expect(stream.others.last == "error", "\(stream.others)")
                #expect(stream.raw.contains("was dropped"), "\(stream.raw.suffix(300))")
            }
            // A filter that no row passes still gets every SCHEMA event, then the end.
            let onlySchemas = try await filtered.value
            #expect(onlySchemas.events.map(\.change.operation) == Array(repeating: .schema, count: steps.count + 1), "\(onlySchemas.raw.prefix(500))")
            #expect(onlySchemas.events.map(\.id) == streams[0].events.filter { $0.change.operation == .schema }.map(\.id))
        }
        if !eventTrigger { try await db.execute("reassign owned by \(owner) to current_user; drop owned by \(owner); drop role \(owner)") }
    }

    /// Waits until `more` rows were written to `table` since it was last asked.
    func waitForRows(_ db: TestDatabase, table: String = "items", more: Int) async throws {
        let start = try await Self.count(db, table)
        let deadline = Date().addingTimeInterval(60)
        while try await Self.count(db, table) < start + more {
            guard Date() < deadline else { throw TestClusterError("timed out waiting for \(more) more rows in \(table)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until `count` more ticks were recorded.
    func waitForTicks(_ db: TestDatabase, _ count: Int) async throws {
        let start = Int(try await db.query("select max(tick) from realtime.ticks")[0][0]!)!
        let deadline = Date().addingTimeInterval(60)
        while Int(try await db.query("select max(tick) from realtime.ticks")[0][0]!)! < start + count {
            guard Date() < deadline else { throw TestClusterError("timed out waiting for \(count) ticks") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func count(_ db: TestDatabase, _ table: String) async throws -> Int {
        Int(try await db.query("select count(*) from \(table)")[0][0]!)!
    }

    /// The property: each change's row has exactly the columns (in order) of the last shape the
    /// stream was told, and each SCHEMA event's `old` is the shape before it. Returns the SCHEMA events.
    ///
    /// One exception, a Postgres behaviour found here and left (the note): the first
    /// statement a writer session runs after a DDL it waited for may capture its row with the
    /// table's old columns (the capture function's cached plan over the transition table keeps
    /// the old row type for that one execution). Such a row is the row right after the SCHEMA
    /// event, in the shape before it: allowed once per event, and nowhere else.
    static func checkShapes(_ stream: SSEResult) throws -> [(id: Int64, event: String, change: ChangeEvent)] {
        var current = ["id", "note", "qty"]
        // Each row names the table as it was when written: history keeps the name it had.
        var name = items
        var previous: [String]?
        var staleAllowed = false
        var schemas: [(id: Int64, event: String, change: ChangeEvent)] = []
        for event in stream.events {
            if event.change.operation == .schema {
                #expect(event.event == "schema")
                let before = try #require(TableShape(json: event.change.old))
                #expect(before.columns.map(\.name) == current, "change \(event.id)")
                previous = current
                current = TableShape(json: event.change.new)?.columns.map(\.name) ?? []
                name = TableShape(json: event.change.new)?.table ?? name
                staleAllowed = true
                schemas.append(event)
                continue
            }
            #expect(event.change.table == name, "change \(event.id) names \(event.change.table), not \(name)")
            guard case .object(let members)? = event.change.new else { continue }
            let keys = members.map(\.key)
            if staleAllowed, keys == previous, keys != current {
                staleAllowed = false
                continue
            }
            staleAllowed = false
            #expect(keys == current, "change \(event.id): \(keys) after shape \(current)")
        }
        return schemas
    }

    /// What each SCHEMA event says: the column added, renamed (its number kept), retyped and
    /// dropped, the table renamed (the old name in `old`), and dropped (`new` null).
    static func checkSteps(_ events: [ChangeEvent]) throws {
        guard events.count == 6 else { return }
        let shapes = events.map { (TableShape(json: $0.old), TableShape(json: $0.new)) }
        #expect(shapes[0].1?.columns.last?.name == "memo" && shapes[0].1?.columns.last?.type == "text")
        let renamed = try #require(shapes[1].1?.columns.first { $0.name == "title" })
        #expect(shapes[1].0?.columns.first { $0.name == "note" }?.number == renamed.number)
        #expect(shapes[2].0?.columns.first { $0.name == "qty" }?.type == "integer")
        #expect(shapes[2].1?.columns.first { $0.name == "qty" }?.type == "text")
        #expect(shapes[3].1?.columns.map(\.name) == ["id", "title", "qty"])
        #expect(shapes[4].0?.table == items && shapes[4].1?.table == TableName(schema: "public", name: "goods"))
        #expect(events[4].table == TableName(schema: "public", name: "goods"))
        #expect(shapes[5].0?.table == TableName(schema: "public", name: "goods") && events[5].new == nil)
    }
}
