import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// The real Python client across a relay restart: it reconnects by itself, joins again, and gets
/// table changes and broadcasts from the new relay (the Supabase protocol has no resume point:
/// what was written while no relay ran is not sent; pgrelay's own streams resume with `since`).
@Suite struct SupabaseRestartTests {
    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            got = []
            def keep(item):
                got.append(item)
                out(item=item)
            client = AsyncRealtimeClient(sys.argv[1], None, auto_reconnect=True, initial_backoff=0.5, max_retries=8, timeout=60)
            await client.connect()
            channel = client.channel("db")
            channel.on_postgres_changes("INSERT", table="orders", callback=lambda p: keep(p["data"]["record"]))
            channel.on_broadcast("*", lambda p: keep(p["payload"]))
            channel.on_system(lambda p: out(system=p.get("message") if isinstance(p, dict) else getattr(p, "message", str(p))))
            await channel.subscribe(lambda state, error: out(state=getattr(state, "value", str(state)), error=str(error) if error else None))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while loop.time() < deadline and len(got) < 4:
                await asyncio.sleep(0.05)
            out(got=got)
            await client.close()

        asyncio.run(main())
        """#

    @Test(.timeLimit(.minutes(3))) func theOfficialClientComesBackAfterARestart() async throws {
        let db = try await ordersDatabase()
        let first = try await TestServer.start(db)
        let port = first.port
        let python = try await Workers.value { try PythonRealtime.start(Self.script, ["http://127.0.0.1:\(port)/realtime/v1"]) }
        defer {
            python.signal(SIGKILL)
            _ = python.wait()
        }
        func systemMessages() -> Int { python.stdoutSoFar.components(separatedBy: "Subscribed to PostgreSQL").count - 1 }
        try await waitUntil(timeout: 60, "the first join (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") { systemMessages() == 1 }
        try await db.execute("insert into orders values (1, 'open', 10)")
        try await db.execute(#"select realtime.send('{"n":1}', 'note', 'db', false)"#)
        try await waitUntil(timeout: 60, "the first relay's deliveries (stdout: \(python.stdoutSoFar))") {
            python.stdoutSoFar.components(separatedBy: #"{"item": "#).count == 3
        }
        await first.stop()
        try await TestServer.with(db, configure: { $0.port = port }) { second in
            try await waitUntil(timeout: 60, "the client to join the new relay (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                systemMessages() == 2
            }
            try await db.execute("insert into orders values (2, 'open', 20)")
            try await db.execute(#"select realtime.send('{"n":2}', 'note', 'db', false)"#)
            try await waitUntil(timeout: 60, "the report (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                python.stdoutSoFar.contains(#"{"got": "#)
            }
            let report = try JSONValue(parsing: String(python.stdoutSoFar.split(separator: "\n").last { $0.hasPrefix(#"{"got": "#) } ?? ""))
            let got = (report["got"]?.arrayValue ?? []).map { item -> String in
                if let id = item["id"] { return "row \(id.jsonText)" }
                return "note \(item["n"]?.jsonText ?? "?")"
            }
            #expect(Set(got) == ["row 1", "note 1", "row 2", "note 2"] && got.count == 4, "\(report)")
        }
    }
}
