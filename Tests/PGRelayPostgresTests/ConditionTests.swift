import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Subscription conditions: rows that do not match are never logged; an UPDATE moving a row into
/// or out of the condition is logged with its old and new values; bad conditions, non-owners,
/// unknown ids and tables get one clear line.
@Suite struct ConditionTests {
    func pgrelay(_ arguments: [String], _ db: TestDatabase) throws -> Subprocess.Output {
        try BuiltExecutable.run(arguments, database: db.conninfo)
    }

    @Test func onlyMatchingRowsAreLoggedAndRowsMovingAcrossTheConditionAre() throws {
        let db = try TestDatabase()
        try db.connection.execute("create table comments (id int primary key, post_id text, body text)")
        try db.connection.execute("create table notes (body text)")  // no key: UPDATEs are captured per row
        let subscribed = try pgrelay(["subscribe", "public.comments", "INSERT,UPDATE,DELETE", "post_id = '123'"], db)
        #expect(
            subscribed.status == 0
                && subscribed.stdout
                    == "subscribed public.comments (INSERT,UPDATE,DELETE, notify auto, where (post_id = '123'::text)) on channel realtime:table:public.comments\n",
            "\(subscribed)")
        #expect(try pgrelay(["subscribe", "public.notes", "INSERT,UPDATE", "body like 'keep%'"], db).status == 0)
        try db.connection.execute("insert into comments values (1, '123', 'a'), (2, '9', 'b'), (3, '9', 'c')")
        try db.connection.execute("update comments set post_id = '9' where id = 1")  // leaves
        try db.connection.execute("update comments set post_id = '123' where id = 2")  // enters
        try db.connection.execute("update comments set body = 'x'")  // 2 matches now, 1 and 3 do not
        try db.connection.execute("update comments set body = 'y' where id = 3")  // never matched
        try db.connection.execute("delete from comments")  // only 2 matches
        try db.connection.execute("insert into notes values ('keep 1'), ('drop 1')")
        try db.connection.execute("update notes set body = 'drop 2' where body = 'keep 1'")
        try db.connection.execute("update notes set body = 'drop 3' where body = 'drop 1'")
        let changes = try db.ticked().read(after: 0)
        let seen = changes.map { change -> String in
            let row = change.new ?? change.old
            return "\(change.table.name) \(change.operation.rawValue) \(row?["id"]?.jsonText ?? row?["body"]?.stringValue ?? "")"
                + (change.operation == .update
                    ? " \(change.old?["post_id"]?.stringValue ?? change.old?["body"]?.stringValue ?? "")→\(change.new?["post_id"]?.stringValue ?? change.new?["body"]?.stringValue ?? "")"
                    : "")
        }
        #expect(
            seen == [
                "comments INSERT 1", "comments UPDATE 1 123→9", "comments UPDATE 2 9→123", "comments UPDATE 2 123→123", "comments DELETE 2",
                "notes INSERT keep 1", "notes UPDATE drop 2 keep 1→drop 2",
            ], "\(seen)")

        // subscribe again without a condition keeps it; --no-condition removes it.
        #expect(try pgrelay(["subscribe", "public.comments", "INSERT"], db).stdout.contains("where (post_id = '123'::text)"))
        let listed = try JSONValue(parsing: try pgrelay(["subscriptions", "--json"], db).stdout)
        let comments = listed.arrayValue?.first { $0["table"] == .string("comments") }
        #expect(comments?["condition"] == .string("(post_id = '123'::text)") && comments?["events"] == .array([.string("INSERT")]), "\(listed)")
        #expect(Int(comments?["id"]?.jsonText ?? "") != nil && comments?["changes_last_hour"] == .number("5"), "\(listed)")
        #expect(try pgrelay(["subscribe", "public.comments", "--no-condition"], db).stdout.contains("notify auto) on channel"))
        try db.connection.execute("insert into comments values (4, '9', 'd')")
        #expect(try db.ticked().read(after: changes.last?.id ?? 0).count == 1)
    }

    @Test func badConditionsUnknownIdsAndTablesGetOneClearLine() throws {
        let db = try TestDatabase()
        try db.connection.execute("create table comments (id int primary key, post_id text, body text)")
        let cases: [([String], String)] = [
            (
                ["subscribe", "public.comments", "INSERT", "post_id = (select '1')"],
                "pgrelay: condition \"post_id = (select '1')\" refused by Postgres: cannot use subquery in subscription condition (a condition is a boolean expression over the columns of public.comments; no subqueries, immutable functions only)\n"
            ),
            (
                ["subscribe", "public.comments", "INSERT", "random() > 0.5"],
                "refused by Postgres: functions in subscription condition must be marked IMMUTABLE"
            ),
            (["subscribe", "public.comments", "INSERT", "created > now()"], "refused by Postgres: column \"created\" does not exist"),
            (["subscribe", "public.comments", "INSERT", "body"], "refused by Postgres: argument of WHERE must be type boolean, not type text"),
            (
                ["subscribe", "public.comments", "INSERT", "true; drop table comments"],
                "pgrelay: a condition is one expression: ';' is not allowed outside a literal\n"
            ),
            (["subscribe", "public.comments", "INSERT", "true) or (1=1"], "pgrelay: a ')' has no '(' before it\n"),
            (["subscribe", "public.comments", "INSERT", "body = $$x$$"], "may not use '$'"),
            (["subscribe", "public.comments", "INSERT", "true -- c"], "may not contain a comment"),
            (["subscribe", "public.comments", "INSERT", "post_id = '1"], "a '...' literal is not closed"),
            (["subscribe", "public.comments", "INSERT", "post_id = '1'", "--no-condition"], "give a CONDITION or --no-condition, not both"),
            (["subscribe", "public.nothing", "INSERT", "true"], "pgrelay: table public.nothing does not exist in database"),
            (["unsubscribe", "42"], "pgrelay: no subscription has ID 42; pgrelay subscriptions lists them\n"),
            (["unsubscribe", "public.nothing"], "pgrelay: public.nothing is not subscribed"),
        ]
        for (arguments, expected) in cases {
            let result = try pgrelay(arguments, db)
            #expect(result.status != 0 && result.stdout.isEmpty, "\(arguments): \(result)")
            #expect(result.stderr.contains(expected) && result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
        // Nothing was installed by the refused ones.
        #expect(try db.installer.subscriptions().isEmpty)
        #expect(try db.connection.query("select count(*) from pg_trigger where tgrelid = 'comments'::regclass").first?[0] == "0")
    }

    /// A condition runs in every writer's transaction: only the table's owner may set it.
    @Test func onlyTheTablesOwnerMaySetACondition() throws {
        let db = try TestDatabase()
        let role = "pgrelay_writer_\(UInt32.random(in: 0...UInt32.max))"
        try db.connection.execute("create table comments (id int primary key, post_id text)")
        try db.connection.execute("create role \(role)")
        try db.connection.execute(
            "grant usage on schema realtime to \(role); grant select, insert, update, delete on all tables in schema realtime to \(role)")
        // It may subscribe the table (TRIGGER), not own it.
        try db.connection.execute("grant trigger on comments to \(role)")
        let other = try db.connect()
        try other.execute("set role \(role)")
        #expect {
            try Installer(connection: other).subscribe(
                TableName(schema: "public", name: "comments"), condition: .set(try SubscriptionCondition("post_id = '1'")))
        } throws: { error in
            "\(error)".hasPrefix(
                "only the owner of public.comments (role postgres) may set its condition: a condition runs inside every writer's transaction")
        }
        try db.connection.execute("drop owned by \(role); drop role \(role)")
    }
}

extension ConditionTests {
    /// An application role that may write the tables, and nothing of the realtime schema, writes
    /// through conditioned captures (statement-level, and a keyless table's row-level WHEN).
    @Test func writersWithoutTheRealtimeSchemaWriteThroughConditions() throws {
        let db = try TestDatabase()
        let role = "pgrelay_app_\(UInt32.random(in: 0...UInt32.max))"
        try db.connection.execute("create table comments (id int primary key, post_id text); create table notes (body text)")
        try db.installer.subscribe(TableName(schema: "public", name: "comments"), condition: .set(try SubscriptionCondition("post_id = '123'")))
        try db.installer.subscribe(TableName(schema: "public", name: "notes"), condition: .set(try SubscriptionCondition("body like 'keep%'")))
        try db.connection.execute("create role \(role); grant insert, update, select on comments, notes to \(role)")
        let writer = try db.connect()
        try writer.execute("set role \(role)")
        try writer.execute("insert into comments values (1, '123'), (2, '9'); update comments set post_id = '9'")
        try writer.execute("insert into notes values ('keep a'), ('drop b'); update notes set body = body || '!'")
        let seen = try db.ticked().read(after: 0).map { "\($0.table.name) \($0.operation.rawValue)" }
        #expect(seen == ["comments INSERT", "comments UPDATE", "notes INSERT", "notes UPDATE"], "\(seen)")
        #expect(try writer.query("select has_schema_privilege(current_user, 'realtime', 'usage')").first?[0] == "f")
        try db.connection.execute("drop owned by \(role); drop role \(role)")
    }
}
