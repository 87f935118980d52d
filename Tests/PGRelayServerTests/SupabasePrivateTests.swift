import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Private channels with Supabase's real Python client: a non-member's private join is refused
/// with the reference server's reason (the client reports CHANNEL_ERROR); a member's private join
/// with `replay` gets the newest logged messages first, marked replayed, then live ones.
@Suite struct SupabasePrivateTests {
    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        url, token, replay_limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            got = []
            client = AsyncRealtimeClient(url, token, auto_reconnect=False, timeout=60)
            await client.connect()
            config = {"private": True, "broadcast": {"self": False, "ack": False, "replay": {"since": 0, "limit": replay_limit}}}
            channel = client.channel("team", {"config": config})
            channel.on_broadcast("*", lambda payload: got.append(payload))
            await channel.subscribe(lambda state, error: out(state=getattr(state, "value", str(state)), error=str(error) if error else None))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline and not any(p.get("event") == "live" for p in got):
                await asyncio.sleep(0.05)
            out(got=got)
            await client.close()

        asyncio.run(main())
        """#

    @Test(.timeLimit(.minutes(3))) func membersReplayTheLogAndOthersAreRefused() async throws {
        let db = try await ordersDatabase()
        let store = ChannelStore(connection: db.connection)
        try store.create(try Channel(name: "team", kind: .private))
        try store.join("team", user: "alice")
        for n in 1...3 {
            try await db.execute(#"select realtime.send('{"n":\#(n)}', 'old', 'team', true)"#)
        }
        _ = try db.ticked()
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: ["authenticated: *"])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let url = "http://127.0.0.1:\(server.port)/realtime/v1"

            let malloryToken = try await AuthTests.token(sub: "mallory")
            let aliceToken = try await AuthTests.token(sub: "alice")
            let mallory = try await Workers.value { try PythonRealtime.start(Self.script, [url, malloryToken, "2"]) }
            defer {
                mallory.signal(SIGKILL)
                _ = mallory.wait()
            }
            try await waitUntil(timeout: 60, "mallory's refusal (stdout: \(mallory.stdoutSoFar), stderr: \(mallory.stderrSoFar))") {
                mallory.stdoutSoFar.contains("CHANNEL_ERROR")
            }
            #expect(
                mallory.stdoutSoFar.contains("Unauthorized: You do not have permissions to read from this Channel topic: team"),
                "\(mallory.stdoutSoFar)")

            let alice = try await Workers.value { try PythonRealtime.start(Self.script, [url, aliceToken, "2"]) }
            defer {
                alice.signal(SIGKILL)
                _ = alice.wait()
            }
            try await waitUntil(timeout: 60, "alice to subscribe (stdout: \(alice.stdoutSoFar), stderr: \(alice.stderrSoFar))") {
                alice.stdoutSoFar.contains("SUBSCRIBED")
            }
            try await db.execute(#"select realtime.send('{"n":4}', 'live', 'team', true)"#)
            try await waitUntil(timeout: 60, "alice's report (stdout: \(alice.stdoutSoFar), stderr: \(alice.stderrSoFar))") {
                alice.stdoutSoFar.contains(#"{"got": "#)
            }
            let report = try JSONValue(parsing: String(alice.stdoutSoFar.split(separator: "\n").last { $0.hasPrefix(#"{"got": "#) } ?? ""))
            let got = report["got"]?.arrayValue ?? []
            // The newest two logged messages, replayed in order, then the live one; ids in log order.
            #expect(
                got.map { "\($0["event"]?.stringValue ?? "") \($0["payload"]?["n"]?.jsonText ?? "") \($0["meta"]?["replayed"]?.jsonText ?? "-")" }
                    == ["old 2 true", "old 3 true", "live 4 -"], "\(report)")
            let ids = got.compactMap { $0["meta"]?["id"]?.stringValue.flatMap { Int64($0) } }
            #expect(ids.count == 3 && ids == ids.sorted(), "\(report)")
        }
    }
}
