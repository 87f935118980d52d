import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Synchronization
import Testing

/// Supabase postgres_changes on the shared filter path, with the official Python client: a
/// binding's filter follows an `ALTER TABLE` as every stream's does, one that no longer fits the
/// table ends its join with a system error, and `old_record` follows the table's replica identity.
@Suite struct SupabaseFeedTests {
    /// Joins one channel per binding given as `name=filter` arguments, prints each change and
    /// system message as it comes, and every channel's state (a system error reaches the client
    /// as CHANNEL_ERROR, with the payload as its error).
    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        url, token, table = sys.argv[1], sys.argv[2] or None, sys.argv[3]
        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            client = AsyncRealtimeClient(url, token, auto_reconnect=False, timeout=60)
            await client.connect()
            for spec in sys.argv[4:]:
                name, _, flt = spec.partition("=")
                channel = client.channel(name)
                kwargs = {"filter": flt} if flt else {}
                channel.on_postgres_changes("*", table=table, schema="public", callback=lambda p, name=name: out(change=name, data=p.get("data")), **kwargs)
                channel.on_system(lambda p, name=name: out(system=name, payload=p))
                await channel.subscribe(lambda state, error, name=name: out(state=getattr(state, "value", str(state)), channel=name, error=str(error) if error else None))
            await asyncio.sleep(120)

        asyncio.run(main())
        """#

    /// The lines the script printed, parsed.
    static func lines(_ python: Subprocess.Running) -> [JSONValue] {
        python.stdoutSoFar.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
    }

    static func start(_ server: TestServer, token: String = "", table: String, _ channels: [String]) async throws -> Subprocess.Running {
        let python = try await Workers.value {
            try PythonRealtime.start(Self.script, ["http://127.0.0.1:\(server.port)/realtime/v1", token, table] + channels)
        }
        try await waitUntil(timeout: 60, "every channel's postgres_changes to be live (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))")
        {
            python.stdoutSoFar.components(separatedBy: "Subscribed to PostgreSQL").count == channels.count + 1
        }
        return python
    }

    @Test(.timeLimit(.minutes(3))) func aBindingFollowsAnAlterTableAndOneThatNoLongerFitsEndsItsJoin() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table events (id int primary key, at text, code text)")
            try db.installer.subscribe(TableName(schema: "public", name: "events"))
        }
        try await TestServer.with(db) { server in
            // As text, '2024-01-01T03:00:00+00:00' < '2024-01-01T05:00:00+05:00'; as timestamptz it
            // is three hours later. 'abc' is a text; once code is an integer, Postgres would refuse code=eq.abc.
            let python = try await Self.start(server, table: "events", ["later=at=gt.2024-01-01T05:00:00+05:00", "unfit=code=eq.abc"])
            defer {
                python.signal(SIGKILL)
                _ = python.wait()
            }
            try await db.execute(
                """
                alter table events alter column at type timestamptz using at::timestamptz,
                                   alter column code type int using code::int
                """
            )
            // The relay reads the new types within seconds: insert until a row passes.
            var id = 1
            try await waitUntil(timeout: 60, "a row to pass by the column's new type (stdout: \(python.stdoutSoFar))") {
                id += 1
                try db.connection.execute("insert into events values (\(id), '2024-01-01T03:00:00+00:00', \(id))")
                return Self.lines(python).contains { $0["change"] == .string("later") }
            }
            func unfitError(_ lines: [JSONValue]) -> JSONValue? {
                lines.first { $0["channel"] == .string("unfit") && $0["state"] == .string("CHANNEL_ERROR") }.flatMap {
                    try? JSONValue(parsing: $0["error"]?.stringValue ?? "")
                }
            }
            try await waitUntil(timeout: 60, "the unfit channel's system error (stdout: \(python.stdoutSoFar))") {
                unfitError(Self.lines(python)) != nil
            }
            let lines = Self.lines(python)
            // Without the new types no row would ever pass: as text, each compares lower.
            #expect(
                lines.first { $0["change"] == .string("later") }?["data"]?["record"]?["at"]?.stringValue?.hasPrefix("2024-01-01T03:00:00") == true,
                "\(lines)")
            let failed = unfitError(lines)
            #expect(failed?["extension"] == .string("postgres_changes") && failed?["status"] == .string("error"), "\(lines)")
            #expect(
                failed?["message"]?.stringValue?.contains("the table changed since the stream started") == true
                    && failed?["message"]?.stringValue?.contains("code") == true, "\(lines)")
            #expect(!lines.contains { $0["change"] == .string("unfit") }, "\(lines)")
            // The join ended: its channel's state went to closed, and the relay is healthy.
            try await waitUntil(timeout: 30, "the unfit channel to close (stdout: \(python.stdoutSoFar))") {
                Self.lines(python).contains { $0["channel"] == .string("unfit") && $0["state"] == .string("CLOSED") }
            }
            let health = try await server.health()
            #expect(health["status"] == .string("ok"))
        }
    }

    /// With REPLICA IDENTITY FULL an UPDATE's and a DELETE's `old_record` is the whole old row, as
    /// on Supabase, when that row was within the token's scope; the key otherwise, and always for a
    /// table with the default identity.
    @Test(.timeLimit(.minutes(3))) func oldRecordFollowsTheReplicaIdentityWithinTheScope() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute(
                """
                create table accounts (id int primary key, owner text, balance int);
                alter table accounts replica identity full;
                create table notes (id int primary key, owner text, body text)
                """
            )
            try db.installer.subscribe(TableName(schema: "public", name: "accounts"))
            try db.installer.subscribe(TableName(schema: "public", name: "notes"))
        }
        var policy = try AccessPolicy(
            roleClaim: "role", access: ["authenticated: *"], scopes: ["public.accounts: owner=eq.{sub}", "public.notes: owner=eq.{sub}"])
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: [])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let token = try await AuthTests.token(sub: "alice")
            let accounts = try await Self.start(server, token: token, table: "accounts", ["accounts="])
            defer {
                accounts.signal(SIGKILL)
                _ = accounts.wait()
            }
            let notes = try await Self.start(server, token: token, table: "notes", ["notes="])
            defer {
                notes.signal(SIGKILL)
                _ = notes.wait()
            }
            try await db.execute(
                """
                insert into accounts values (1, 'alice', 10), (2, 'bob', 20);
                update accounts set balance = 11 where id = 1;
                update accounts set owner = 'alice', balance = 21 where id = 2;
                update accounts set owner = 'bob' where id = 1;
                delete from accounts where id = 2;
                insert into notes values (1, 'alice', 'x');
                update notes set body = 'y' where id = 1;
                delete from notes where id = 1
                """
            )
            func changes(_ python: Subprocess.Running) -> [JSONValue] { Self.lines(python).compactMap { $0["change"] == nil ? nil : $0["data"] } }
            try await waitUntil(timeout: 60, "alice's account changes (stdout: \(accounts.stdoutSoFar))") { changes(accounts).count >= 4 }
            try await waitUntil(timeout: 60, "alice's note changes (stdout: \(notes.stdoutSoFar))") { changes(notes).count >= 3 }
            func shown(_ change: JSONValue) -> String {
                "\(change["type"]?.stringValue ?? "") \(change["record"]?.jsonText ?? "-") \(change["old_record"]?.jsonText ?? "-")"
            }
            // Bob's row 2 is not alice's until it becomes hers: its old values are not shown. Row 1
            // leaving her scope is not delivered (an UPDATE is judged by its new row, as on Supabase).
            #expect(
                changes(accounts).map(shown) == [
                    #"INSERT {"id":1,"owner":"alice","balance":10} -"#,
                    #"UPDATE {"id":1,"owner":"alice","balance":11} {"id":1,"owner":"alice","balance":10}"#,
                    #"UPDATE {"id":2,"owner":"alice","balance":21} {"id":2}"#,
                    #"DELETE - {"id":2,"owner":"alice","balance":21}"#,
                ], "\(accounts.stdoutSoFar)")
            #expect(
                changes(notes).map(shown) == [
                    #"INSERT {"id":1,"owner":"alice","body":"x"} -"#,
                    #"UPDATE {"id":1,"owner":"alice","body":"y"} {"id":1}"#,
                    #"DELETE - {"id":1}"#,
                ], "\(notes.stdoutSoFar)")
        }
    }
}
