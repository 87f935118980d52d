import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `pgrelay listen` prints a table's SCHEMA events readably, at their place among its changes:
/// a column added, renamed (its number kept) and retyped, the table renamed, then dropped.
@Suite struct ListenSchemaTests {
    @Test(.timeLimit(.minutes(2))) func listenPrintsWhatChangedInTheTable() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table items (id int primary key, note text)")
            try db.installer.subscribe(TableName(schema: "public", name: "items"))
        }
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let listen = try Subprocess.start(BuiltExecutable.pgrelay.path, ["listen", "public.items"], environment: environment)
        defer { listen.signal(SIGKILL) }
        try await waitUntil("pgrelay listen to connect (stderr: \(listen.stderrSoFar))") {
            try db.connection.query(
                "select count(*) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()"
            ).first?[0] == "1"
        }
        try await db.execute("insert into items values (1, 'a')")
        try await db.execute("alter table items add column qty int")
        try await db.execute("insert into items values (2, 'b', 3)")
        try await db.execute("alter table items rename column note to title")
        try await db.execute("alter table items alter column qty type bigint")
        try await db.execute("alter table items rename to goods")
        try await db.execute("insert into goods values (3, 'c', 4)")
        try await db.execute("drop table goods")
        try await waitUntil(timeout: 30, "the drop to be printed (\(listen.stdoutSoFar))") { listen.stdoutSoFar.contains("table dropped") }
        let output = listen.stdoutSoFar
        let expected = [
            "INSERT  public.items\n  id: 1\n  note: \"a\"",
            "SCHEMA  public.items\n  + qty integer (column 3 added)",
            "INSERT  public.items\n  id: 2\n  note: \"b\"\n  qty: 3",
            "SCHEMA  public.items\n  ~ note renamed to title (column 2)",
            "SCHEMA  public.items\n  ~ qty: integer → bigint (column 3)",
            "SCHEMA  public.goods\n  table renamed from public.items to public.goods",
            "INSERT  public.goods\n  id: 3\n  title: \"c\"\n  qty: 4",
            "SCHEMA  public.goods\n  table dropped",
        ]
        var rest = Substring(output)
        for block in expected {
            guard let found = rest.range(of: block) else {
                Issue.record("\(block) not printed in order; output:\n\(output)")
                return
            }
            rest = rest[found.upperBound...]
        }
    }
}
