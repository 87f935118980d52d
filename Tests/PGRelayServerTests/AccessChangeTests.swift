import Foundation
import HummingbirdWSClient
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Authorization changes reach open streams in the log's order: a member removed from a private
/// channel stops receiving at exactly the removal (its native subscription and SSE stream end
/// with an error, its Supabase join is closed), while the other members go on.
@Suite struct AccessChangeTests {
    static func setUp() async throws -> (TestDatabase, TestServer) {
        let db = try await ordersDatabase()
        let store = ChannelStore(connection: db.connection)
        try store.create(try Channel(name: "priv", kind: .private))
        for user in ["alice", "bob"] { try store.join("priv", user: user) }
        try store.join("priv", user: "mod", role: .moderator)
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: ["authenticated: *"])
        let server = try await TestServer.start(db) { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }
        return (db, server)
    }

    static func remove(_ user: String, _ server: TestServer) async throws {
        let moderator = try await AuthTests.token(sub: "mod")
        let removed = try await server.request("DELETE", "/v1/channels/priv/members/\(user)", headers: [("Authorization", "Bearer \(moderator)")])
        #expect(removed.status == 204, "\(removed)")
    }

    @Test func aRemovedMemberStopsReceivingAtTheRemoval() async throws {
        let (db, started) = try await Self.setUp()
        try await TestServer.using(started) { server in
            let alice = try await AuthTests.token(sub: "alice")
            let bob = try await AuthTests.token(sub: "bob")
            // Bob's SSE stream reads everything, live; alice's SSE stream too, until the removal.
            let bobStream = Task {
                try await server.stream("/v1/channels/priv/stream?access_token=\(bob)", count: .max, timeout: 60) { $0.messages.count >= 3 }
            }
            let aliceStream = Task {
                try await server.stream("/v1/channels/priv/stream?access_token=\(alice)", count: .max, timeout: 60) {
                    $0.raw.contains("event: error")
                }
            }
            try await server.waitForHealth { $0["subscribers"] == .number("2") }
            var logger = Logger(label: "ws.test")
            logger.logLevel = .critical
            let inbox = WebSocketRouteTests.Inbox()
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(alice)", logger: logger) { inbound, outbound, _ in
                try await readingTexts(inbound, onText: inbox.add) {
                    try await outbound.write(.text(#"{"type":"subscribe","id":"c","channel":"priv"}"#))
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("live") } }
                    try await db.execute(#"select realtime.send('{"n":1}', 'before', 'priv')"#)
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("message") } }
                    try await Self.remove("alice", server)
                    // Committed after the removal: for bob only.
                    try await db.execute(#"select realtime.send('{"n":2}', 'after', 'priv')"#)
                    try await db.execute(#"select realtime.post_ephemeral('priv', 'typing', '{}', 'bob')"#)
                    try await db.execute(#"select realtime.send('{"n":3}', 'after', 'priv')"#)
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("error") && $0["id"] == .string("c") } }
                    try await outbound.write(.text(#"{"type":"ping"}"#))
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("pong") } }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            let seen = inbox.all
            #expect(seen.filter { $0["type"] == .string("message") }.map { $0["message"]?["event"]?.stringValue } == ["before"], "\(seen)")
            #expect(!seen.contains { $0["type"] == .string("broadcast") }, "no ephemeral event after the removal: \(seen)")
            let error = seen.first { $0["type"] == .string("error") }
            #expect(error?["message"]?.stringValue?.contains("members only, and 'alice' is not one") == true, "\(seen)")
            let aliceSaw = try await aliceStream.value
            #expect(aliceSaw.messages.map { $0.message["event"]?.stringValue } == ["before"], "\(aliceSaw.raw)")
            #expect(aliceSaw.raw.contains("event: error") && aliceSaw.raw.contains("is not one"), "\(aliceSaw.raw)")
            let bobSaw = try await bobStream.value
            #expect(bobSaw.messages.map { $0.message["event"]?.stringValue } == ["before", "after", "after"], "\(bobSaw.raw)")
            // A new request from alice is refused, and the log's pages never show the access change.
            #expect(try await server.get("/v1/channels/priv/messages", headers: [("Authorization", "Bearer \(alice)")]).status == 403)
            let page = try await server.get("/v1/channels/priv/messages?since=0", headers: [("Authorization", "Bearer \(bob)")])
            #expect((try JSONValue(parsing: page.body)["messages"]?.arrayValue ?? []).count == 3, "\(page.body)")
        }
    }

    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        url, token = sys.argv[1], sys.argv[2]
        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            client = AsyncRealtimeClient(url, token, auto_reconnect=False, timeout=60)
            await client.connect()
            channel = client.channel("priv", {"config": {"private": True}})
            channel.on_broadcast("*", lambda p: out(got=p.get("event")))
            await channel.subscribe(lambda state, error: out(state=getattr(state, "value", str(state)), error=str(error) if error else None))
            await asyncio.sleep(60)

        asyncio.run(main())
        """#

    @Test(.timeLimit(.minutes(3))) func aRemovedMembersSupabaseJoinIsClosed() async throws {
        let (db, started) = try await Self.setUp()
        try await TestServer.using(started) { server in
            let alice = try await AuthTests.token(sub: "alice")
            let python = try await Workers.value { try PythonRealtime.start(Self.script, ["http://127.0.0.1:\(server.port)/realtime/v1", alice]) }
            defer {
                python.signal(SIGKILL)
                _ = python.wait()
            }
            try await waitUntil(timeout: 60, "alice to join (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                python.stdoutSoFar.contains("SUBSCRIBED")
            }
            try await db.execute(#"select realtime.send('{"n":1}', 'before', 'priv')"#)
            try await waitUntil(timeout: 60, "the first message (stdout: \(python.stdoutSoFar))") { python.stdoutSoFar.contains(#""got": "before""#) }
            try await Self.remove("alice", server)
            try await db.execute(#"select realtime.send('{"n":2}', 'after', 'priv')"#)
            try await waitUntil(timeout: 60, "the join to close (stdout: \(python.stdoutSoFar))") { python.stdoutSoFar.contains("CLOSED") }
            #expect(
                python.stdoutSoFar.contains("CHANNEL_ERROR")
                    && python.stdoutSoFar.contains("You no longer have permission to read from this Channel topic: priv"), "\(python.stdoutSoFar)")
            #expect(!python.stdoutSoFar.contains(#""got": "after""#), "\(python.stdoutSoFar)")
        }
    }
}
