import Foundation
import HummingbirdWSClient
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `private` means private: a message sent as private (`realtime.send`'s default, a broadcast's
/// `"private": true`) to a topic nobody created reaches only the roles `auth.private_channels`
/// grants it to, on every surface, and never a Supabase public join.
@Suite struct PrivateMessageTests {
    static func server(_ db: TestDatabase) async throws -> TestServer {
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(
            read: ["authenticated: *", "staff: *"], send: ["authenticated: *", "staff: *"], readPrivate: ["staff: room:*"])
        return try await TestServer.start(db) { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }
    }

    /// Two private messages (SQL's default, and HTTP's `"private": true`) and a public one.
    static func send(_ db: TestDatabase, _ server: TestServer, token: String) async throws {
        try await db.execute(#"select realtime.send('{"n":1}', 'secret', 'room:1')"#)
        try await db.execute(#"select realtime.send('{"n":2}', 'open', 'room:1', false)"#)
        let posted = try await server.post(
            "/realtime/v1/api/broadcast", body: #"{"messages":[{"topic":"room:1","event":"secret","payload":{"n":3},"private":true}]}"#,
            headers: [("Authorization", "Bearer \(token)")]
        )
        #expect(posted.status == 202, "\(posted)")
    }

    @Test func privateMessagesReachOnlyThoseWhoMayReadThem() async throws {
        let db = try await ordersDatabase()
        try await TestServer.using(try await Self.server(db)) { server in
            let alice = try await AuthTests.token(sub: "alice")
            let sam = try await AuthTests.token(sub: "sam", role: "staff")
            // Live readers first: a native socket and an SSE stream for each.
            var logger = Logger(label: "ws.test")
            logger.logLevel = .critical
            func nativeEvents(_ token: String) async throws -> [String] {
                let inbox = WebSocketRouteTests.Inbox()
                try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(token)", logger: logger) { inbound, outbound, _ in
                    try await readingTexts(inbound, onText: inbox.add) {
                        try await outbound.write(.text(#"{"type":"subscribe","id":"c","channel":"room:1","since":0}"#))
                        // The second public message is the last sent: once it is here, everything before it was judged.
                        _ = try await inbox.wait {
                            $0.filter { $0["type"] == .string("message") && $0["message"]?["event"] == .string("open") }.count == 2
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                return inbox.all.filter { $0["type"] == .string("message") }.map {
                    "\($0["message"]?["event"]?.stringValue ?? "") \($0["message"]?["private"]?.jsonText ?? "")"
                }
            }
            try await Self.send(db, server, token: sam)
            // The HTTP message was sent last; resend a public one so that it closes each reader's wait.
            try await db.execute(#"select realtime.send('{"n":4}', 'open', 'room:1', false)"#)
            let aliceSees = try await nativeEvents(alice)
            let samSees = try await nativeEvents(sam)
            #expect(aliceSees == ["open false", "open false"], "\(aliceSees)")
            #expect(samSees == ["secret true", "open false", "secret true", "open false"], "\(samSees)")
            // SSE, from the log.
            for (token, expected) in [(alice, ["open", "open"]), (sam, ["secret", "open", "secret", "open"])] {
                let stream = try await server.stream("/v1/channels/room:1/stream?since=0&access_token=\(token)", count: .max, timeout: 30) {
                    $0.messages.count >= expected.count
                }
                #expect(stream.messages.map { $0.message["event"]?.stringValue ?? "" } == expected, "\(stream.raw)")
            }
            // Pages.
            for (token, count) in [(alice, 2), (sam, 4)] {
                let page = try await server.get("/v1/channels/room:1/messages?since=0", headers: [("Authorization", "Bearer \(token)")])
                let messages = try JSONValue(parsing: page.body)["messages"]?.arrayValue ?? []
                #expect(messages.count == count && (count == 4 || messages.allSatisfy { $0["private"] == .bool(false) }), "\(page.body)")
            }
        }
    }

    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        url, token, private = sys.argv[1], sys.argv[2], sys.argv[3] == "private"
        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            got = []
            client = AsyncRealtimeClient(url, token, auto_reconnect=False, timeout=60)
            await client.connect()
            channel = client.channel("room:1", {"config": {"private": private, "broadcast": {"self": False}}})
            channel.on_broadcast("*", lambda payload: got.append(payload))
            await channel.subscribe(lambda state, error: out(state=getattr(state, "value", str(state)), error=str(error) if error else None))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline and not any(p.get("event") == "last" for p in got):
                await asyncio.sleep(0.05)
            out(got=[p.get("event") for p in got])
            await client.close()

        asyncio.run(main())
        """#

    /// With the official client: a public join never receives a private message, even for a role
    /// that may read them; that role's private join does; a private join on a topic nobody
    /// created is refused to a role without the grant.
    @Test(.timeLimit(.minutes(3))) func aSupabasePublicJoinNeverReceivesAPrivateMessage() async throws {
        let db = try await ordersDatabase()
        try await TestServer.using(try await Self.server(db)) { server in
            let url = "http://127.0.0.1:\(server.port)/realtime/v1"
            let sam = try await AuthTests.token(sub: "sam", role: "staff")
            let alice = try await AuthTests.token(sub: "alice")
            let joins = try await Workers.value {
                try [(sam, "public"), (sam, "private"), (alice, "private")].map { try PythonRealtime.start(Self.script, [url, $0.0, $0.1]) }
            }
            defer {
                for join in joins {
                    join.signal(SIGKILL)
                    _ = join.wait()
                }
            }
            for join in joins {
                try await waitUntil(timeout: 60, "the join's answer (stdout: \(join.stdoutSoFar), stderr: \(join.stderrSoFar))") {
                    join.stdoutSoFar.contains("SUBSCRIBED") || join.stdoutSoFar.contains("CHANNEL_ERROR")
                }
            }
            #expect(
                joins[2].stdoutSoFar.contains("CHANNEL_ERROR") && joins[2].stdoutSoFar.contains("auth.private_channels"), "\(joins[2].stdoutSoFar)")
            try await Self.send(db, server, token: sam)
            try await db.execute(#"select realtime.send('{}', 'last', 'room:1', false)"#)
            func events(_ join: Subprocess.Running) async throws -> [String] {
                try await waitUntil(timeout: 60, "the report (stdout: \(join.stdoutSoFar))") { join.stdoutSoFar.contains(#"{"got": "#) }
                let line = join.stdoutSoFar.split(separator: "\n").last { $0.hasPrefix(#"{"got": "#) } ?? ""
                return (try JSONValue(parsing: String(line))["got"]?.arrayValue ?? []).compactMap(\.stringValue)
            }
            let publicJoin = try await events(joins[0])
            let privateJoin = try await events(joins[1])
            #expect(publicJoin == ["open", "last"], "\(publicJoin)")
            #expect(privateJoin == ["secret", "open", "secret", "last"], "\(privateJoin)")
        }
    }
}
