import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `pgrelay listen TABLE --snapshot --filter ...` as a user runs it: its NDJSON lines, applied
/// as a client would apply them, give the rows `SELECT ... WHERE filter` gives, while writes go on.
@Suite struct ListenSnapshotTests {
    @Test(.timeLimit(.minutes(3))) func theRowsThenTheChangesKeepACopyEqualToTheQuery() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute(
                "create table orders (id int primary key, status text, total numeric); insert into orders select g, case when g % 2 = 0 then 'paid' else 'open' end, g from generate_series(1, 50) g"
            )
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        }
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let listen = try Subprocess.start(
            BuiltExecutable.pgrelay.path,
            ["listen", "public.orders", "--snapshot", "--filter", "status=eq.paid", "--filter", "total=lt.1000", "--json"],
            environment: environment)
        try await waitUntil(timeout: 60, "the snapshot line (stderr: \(listen.stderrSoFar))") { listen.stdoutSoFar.contains(#""type":"snapshot""#) }
        // Rows move in and out, change key, go; one statement moves many.
        try await db.execute(
            """
            update orders set status = 'paid' where id = 1;
            update orders set status = 'open' where id = 2;
            update orders set id = 1000 where id = 4;
            delete from orders where id = 6;
            insert into orders values (51, 'paid', 5), (52, 'paid', 5000);
            update orders set status = case status when 'paid' then 'open' else 'paid' end where id between 10 and 20;
            insert into orders values (99999, 'paid', 0)
            """
        )
        try await waitUntil(timeout: 60, "the last row to be printed") { listen.stdoutSoFar.contains(#""id":99999"#) }
        listen.signal(SIGINT)
        let output = listen.wait()
        #expect(output.status == 0, "\(output.stderr)")
        var rows: [String: JSONValue] = [:]
        var sawSnapshot = false
        for line in output.stdout.split(separator: "\n") {
            let json = try JSONValue(parsing: String(line))
            switch json["type"]?.stringValue {
            case "row":
                #expect(!sawSnapshot && json["table"] == .string("public.orders"))
                rows[json["row"]!["id"]!.jsonText] = json["row"]
            case "snapshot":
                sawSnapshot = true
                #expect(json["rows"] == .number("25"), "\(line)")
            default:
                let change = try ChangeEvent(jsonText: String(line))
                if let old = change.old?["id"]?.jsonText, old != change.new?["id"]?.jsonText { rows[old] = nil }
                if let new = change.new { rows[new["id"]!.jsonText] = new }
            }
        }
        #expect(sawSnapshot)
        let expected = try await db.query("select id::text, row_to_json(t)::text from orders t where status = 'paid' and total < 1000")
        #expect(rows.count == expected.count && expected.allSatisfy { rows[$0[0]!] == (try? JSONValue(parsing: $0[1]!)) }, "\(output.stdout)")
    }

    @Test func badFiltersAndMisuseSayWhatToFix() throws {
        let db = try TestDatabase()
        try db.connection.execute("create table orders (id int primary key, status text)")
        try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        let unknown = try BuiltExecutable.run(["listen", "public.orders", "--filter", "colour=eq.red", "--seconds", "1"], database: db.conninfo)
        #expect(unknown.status != 0 && unknown.stderr.contains("no such column"), "\(unknown.stderr)")
        let malformed = try BuiltExecutable.run(["listen", "public.orders", "--filter", "status", "--seconds", "1"], database: db.conninfo)
        #expect(malformed.status != 0 && malformed.stderr.contains("COLUMN=OPERATOR.VALUE"), "\(malformed.stderr)")
        let two = try BuiltExecutable.run(["listen", "public.orders", "public.other", "--snapshot"], database: db.conninfo)
        #expect(two.status != 0 && two.stderr.contains("exactly one TABLE"), "\(two.stderr)")
        let since = try BuiltExecutable.run(["listen", "public.orders", "--snapshot", "--since", "3"], database: db.conninfo)
        #expect(since.status != 0 && since.stderr.contains("drop --since"), "\(since.stderr)")
    }
}
