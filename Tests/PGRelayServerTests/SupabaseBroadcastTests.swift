import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Broadcast with Supabase's real Python client (`realtime` 2.34.1): two clients on one topic,
/// `self` off for one and on for the other, and a message from SQL `realtime.send` arriving as a
/// broadcast, and `http_send` through the HTTP broadcast endpoint. And the vsn 2.0.0 framing and
/// `ack`, with a small client of our own.
@Suite struct SupabaseBroadcastTests {
    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        url = sys.argv[1]
        def out(**fields): print(json.dumps(fields), flush=True)

        async def main():
            got = {"a": [], "b": []}
            clients = []
            channels = {}
            for name, self_ in (("a", False), ("b", True)):
                client = AsyncRealtimeClient(url, None, auto_reconnect=False, timeout=60)
                await client.connect()
                clients.append(client)
                channel = client.channel("room:1", {"config": {"broadcast": {"self": self_, "ack": False}}})
                channel.on_broadcast("*", lambda payload, name=name: got[name].append(payload))
                await channel.subscribe(lambda state, error, name=name: out(client=name, state=getattr(state, "value", str(state)), error=str(error) if error else None))
                channels[name] = channel
            await channels["a"].send_broadcast("msg", {"from": "a"})
            await channels["b"].send_broadcast("msg", {"from": "b"})
            await channels["a"].http_send("http", {"from": "http"})
            try:
                await channels["a"].http_send("x" * 200, {"from": "nowhere"})
            except Exception as error:
                out(http_error=str(error))
            out(sent=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            def has(name, event): return any(p.get("event") == event for p in got[name])
            while loop.time() < deadline and not all(has(name, event) for name in "ab" for event in ("sql", "http")):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            out(a=got["a"], b=got["b"])
            for client in clients:
                await client.close()

        asyncio.run(main())
        """#

    @Test(.timeLimit(.minutes(3))) func theOfficialPythonClientBroadcasts() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { server in
            let python = try await Workers.value { try PythonRealtime.start(Self.script, ["http://127.0.0.1:\(server.port)/realtime/v1"]) }
            defer {
                python.signal(SIGKILL)
                _ = python.wait()
            }
            try await waitUntil(timeout: 60, "both clients to subscribe and send (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                python.stdoutSoFar.contains(#""sent": true"#)
            }
            #expect(python.stdoutSoFar.components(separatedBy: #""state": "SUBSCRIBED""#).count == 3, "\(python.stdoutSoFar)")
            try await db.execute(#"select realtime.send('{"text":"from sql"}', 'sql', 'room:1', false)"#)
            try await waitUntil(timeout: 60, "the clients' report (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                python.stdoutSoFar.contains(#"{"a": "#)
            }
            let report = try JSONValue(parsing: String(python.stdoutSoFar.split(separator: "\n").last { $0.hasPrefix(#"{"a": "#) } ?? ""))
            func seen(_ client: String) -> [String] {
                (report[client]?.arrayValue ?? []).map {
                    "\($0["event"]?.stringValue ?? "?") \($0["payload"]?["from"]?.stringValue ?? $0["payload"]?["text"]?.stringValue ?? "")"
                }
            }
            // a (self off) gets b's broadcast and the SQL message, not its own; b (self on) gets both broadcasts.
            #expect(Set(seen("a")) == ["msg b", "sql from sql", "http http"], "\(report)")
            #expect(Set(seen("b")) == ["msg a", "msg b", "sql from sql", "http http"], "\(report)")
            // http_send with a bad event: the client raises with the server's reason.
            #expect(python.stdoutSoFar.contains(#""http_error": "#) && python.stdoutSoFar.contains("is not allowed"), "\(python.stdoutSoFar)")
            let fromSQL = (report["a"]?.arrayValue ?? []).first { $0["event"] == .string("sql") }
            #expect(fromSQL?["meta"]?["id"]?.stringValue.flatMap { Int64($0) } != nil, "a log message carries its id: \(report)")
        }
    }

    /// A client of our own speaking vsn 2.0.0 arrays: heartbeat, join with ack, broadcast answered,
    /// an unjoined topic refused, leave answered and closed.
    @Test func vsn2FramesAndAck() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { server in
            let port = server.port
            let seen = try await Workers.value { () -> [String] in
                let probe = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?vsn=2.0.0")
                probe.send(text: #"[null,"1","phoenix","heartbeat",{}]"#)
                probe.send(text: #"["2","2","realtime:room:1","phx_join",{"config":{"broadcast":{"ack":true,"self":true}}}]"#)
                probe.send(text: #"["2","3","realtime:room:1","broadcast",{"type":"broadcast","event":"msg","payload":{"n":1}}]"#)
                probe.send(text: #"[null,"4","realtime:other","broadcast",{"type":"broadcast","event":"msg","payload":{}}]"#)
                probe.send(text: "not json")
                // realtime-js sends a broadcast as a binary kind 3 frame: read as the text one is; a
                // binary payload cannot be relayed and is answered so (ack is on).
                let push = PhoenixFrame(
                    joinRef: "2", ref: "6", topic: "realtime:room:1", event: "broadcast",
                    payload: .object([("event", .string("bin")), ("payload", .object([("n", .number("2"))]))]))
                probe.send(binary: (try? push.broadcastPush()) ?? [])
                probe.send(binary: [3, 1, 1, 15, 3, 0, 0] + Array("27realtime:room:1raw".utf8) + [0xde, 0xad])
                // Its own broadcasts come back (self) by way of the database: wait for them, then leave.
                probe.read(timeout: 30) { seen in
                    ["msg", "bin"].allSatisfy { event in
                        seen.messages.contains { $0.contains(#""broadcast",{"type":"broadcast","event":"\#(event)""#) }
                    }
                }
                probe.send(text: #"["2","5","realtime:room:1","phx_leave",{}]"#)
                return probe.read(timeout: 30) { $0.messages.contains { $0.contains("phx_close") } }.messages
            }
            #expect(seen.contains(#"[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]"#), "\(seen)")
            #expect(seen.contains(#"["2","2","realtime:room:1","phx_reply",{"status":"ok","response":{"postgres_changes":[]}}]"#), "\(seen)")
            #expect(seen.contains(#"["2","3","realtime:room:1","phx_reply",{"status":"ok","response":{}}]"#), "ack: \(seen)")
            #expect(
                seen.contains(#"[null,null,"realtime:room:1","broadcast",{"type":"broadcast","event":"msg","payload":{"n":1}}]"#), "self: \(seen)")
            #expect(
                seen.contains(#"[null,null,"realtime:room:1","broadcast",{"type":"broadcast","event":"bin","payload":{"n":2}}]"#),
                "binary push: \(seen)")
            #expect(seen.contains(#"["2","6","realtime:room:1","phx_reply",{"status":"ok","response":{}}]"#), "binary push ack: \(seen)")
            #expect(
                seen.contains {
                    $0.hasPrefix(
                        #"["2","7","realtime:room:1","phx_reply",{"status":"error","response":{"reason":"a binary broadcast payload cannot be relayed"#
                    )
                }, "\(seen)")
            #expect(seen.contains(#"[null,"4","realtime:other","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#), "\(seen)")
            #expect(seen.contains(#"["2","5","realtime:room:1","phx_reply",{"status":"ok","response":{}}]"#), "\(seen)")
            #expect(seen.contains(#"["2","2","realtime:room:1","phx_close",{}]"#), "\(seen)")

            // The batch endpoint: all or nothing, 202 or {"error": ...}.
            let good = try await server.post(
                "/realtime/v1/api/broadcast",
                body: #"{"messages":[{"topic":"room:1","event":"a","payload":{"n":1}},{"topic":"realtime:room:2","event":"b","payload":{}}]}"#)
            #expect(good.status == 202 && good.body.isEmpty, "\(good)")
            let bad = try await server.post(
                "/realtime/v1/api/broadcast", body: #"{"messages":[{"topic":"room:1","event":"a"},{"topic":"bad topic","event":"b"}]}"#)
            #expect(
                bad.status == 400
                    && bad.body
                        == #"{"error":"message 2: channel name 'bad topic' is not allowed: use 1 to 128 letters, digits and _ . : @ - (starting with a letter or digit), e.g. room:42"}"#,
                "\(bad)")
            #expect(try db.ticked().page(after: 0).messages.map { "\($0.channel) \($0.event)" } == ["room:1 a", "room:2 b"])
        }
    }
}

/// The Supabase socket with auth: refused before the upgrade without a token (401, JSON, as the
/// reference server), a bad vsn 400; joins follow the channel rules.
@Suite struct SupabaseAccessTests {
    @Test func tokensVersionsAndPrivateChannels() async throws {
        let db = try await ordersDatabase()
        let store = ChannelStore(connection: db.connection)
        try store.create(try Channel(name: "team", kind: .private))
        try store.join("team", user: "alice")
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: ["authenticated: *"])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let port = server.port
            let missing = try await Workers.value { try WebSocketProbe.refusal(port: port, path: "/realtime/v1/websocket?vsn=1.0.0") }
            #expect(
                missing.hasPrefix("HTTP/1.1 401 Unauthorized\r\n") && missing.contains("Content-Type: application/json")
                    && missing.contains(#"{"error":"a token is required"#), "\(missing)")
            let mallory = try await AuthTests.token(sub: "mallory")
            let version = try await Workers.value { try WebSocketProbe.refusal(port: port, path: "/socket/websocket?vsn=3.0.0&apikey=\(mallory)") }
            #expect(version.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && version.contains("unsupported vsn '3.0.0'"), "\(version)")
            for (user, allowed) in [("mallory", false), ("alice", true)] {
                let token = try await AuthTests.token(sub: user)
                let seen = try await Workers.value { () -> [String] in
                    let probe = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?apikey=\(token)&vsn=1.0.0")
                    probe.send(text: #"{"topic":"realtime:team","event":"phx_join","payload":{"config":{"private":true}},"ref":"1","join_ref":"1"}"#)
                    probe.send(
                        text:
                            #"{"topic":"realtime:lobby","event":"phx_join","payload":{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}},"ref":"2","join_ref":"2"}"#
                    )
                    // A members-only channel joined as public; a private join of a topic nobody created.
                    probe.send(text: #"{"topic":"realtime:team","event":"phx_join","payload":{"config":{}},"ref":"3","join_ref":"3"}"#)
                    probe.send(
                        text: #"{"topic":"realtime:nobody","event":"phx_join","payload":{"config":{"private":"true"}},"ref":"4","join_ref":"4"}"#)
                    return probe.read(timeout: 30) { $0.messages.filter { $0.contains("phx_reply") }.count >= 4 }.messages
                }
                func reply(_ ref: String) -> String { seen.first { $0.contains(#""ref":"\#(ref)""#) } ?? "" }
                if allowed {
                    #expect(reply("1").contains(#""status":"ok""#), "\(user): \(seen)")
                } else {
                    #expect(
                        reply("1").contains(#""status":"error""#)
                            && reply("1").contains(
                                "Unauthorized: You do not have permissions to read from this Channel topic: team (channel team is private: members only, and 'mallory' is not one)"
                            ), "\(user): \(seen)")
                }
                #expect(
                    reply("3").contains(#"{"reason":"PrivateOnly: channel team is private; join it with config.private true"}"#)
                        || (!allowed && reply("3").contains("Unauthorized")), "\(user): \(seen)")
                #expect(
                    reply("4").contains(
                        "Unauthorized: You do not have permissions to read from this Channel topic: nobody (a private join on a topic nobody created needs a role auth.private_channels grants it to"
                    ), "\(seen)")
                // postgres_changes of a table the role may not read: refused, saying why.
                #expect(
                    seen.contains { $0.contains(#""ref":"2""#) && $0.contains("Unauthorized: role 'authenticated' may not read any table") },
                    "\(seen)")
            }
        }
    }
}

extension SupabaseAccessTests {
    /// At the token's exp each channel gets the reference server's system error and phx_close,
    /// and later joins are refused until a fresh token comes.
    @Test(.timeLimit(.minutes(2))) func anExpiredTokenClosesTheChannels() async throws {
        let db = try await ordersDatabase()
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: [])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let port = server.port
            // Long enough for the join to be answered first on a busy machine (8 s was not, once).
            let token = try await AuthTests.token(sub: "alice", expiresIn: 20)
            let seen = try await Workers.value { () -> [String] in
                let probe = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?apikey=\(token)&vsn=1.0.0")
                probe.send(text: #"{"topic":"realtime:room","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}"#)
                probe.read(timeout: 60) { $0.messages.contains { $0.contains("phx_close") } }
                probe.send(text: #"{"topic":"realtime:room","event":"phx_join","payload":{"config":{}},"ref":"2","join_ref":"2"}"#)
                return probe.read(timeout: 30) { $0.messages.contains { $0.contains(#""ref":"2""#) } }.messages
            }
            #expect(seen.contains { $0.contains(#""ref":"1""#) && $0.contains(#""status":"ok""#) }, "\(seen)")
            #expect(
                seen.contains { $0.contains(#""event":"system""#) && $0.contains("Token has expired") && $0.contains(#""status":"error""#) },
                "\(seen)")
            #expect(seen.contains(#"{"topic":"realtime:room","event":"phx_close","payload":{},"ref":"1"}"#), "\(seen)")
            #expect(seen.contains { $0.contains(#""ref":"2""#) && $0.contains("InvalidJWTToken: Token has expired") }, "\(seen)")
        }
    }
}

extension SupabaseAccessTests {
    /// An `access_token` push checks every joined channel again: one the new token may not read
    /// is told so and closed; the others go on.
    @Test func aRefreshedTokenIsCheckedAgain() async throws {
        let db = try await ordersDatabase()
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["reader: room:*, lobby", "visitor: lobby"], send: [])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let port = server.port
            let reader = try await AuthTests.token(sub: "alice", role: "reader")
            let visitor = try await AuthTests.token(sub: "alice", role: "visitor")
            let seen = try await Workers.value { () -> [String] in
                let probe = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?apikey=\(reader)&vsn=1.0.0")
                probe.send(text: #"{"topic":"realtime:room:1","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}"#)
                probe.send(text: #"{"topic":"realtime:lobby","event":"phx_join","payload":{"config":{}},"ref":"2","join_ref":"2"}"#)
                probe.read(timeout: 30) { $0.messages.filter { $0.contains("phx_reply") }.count >= 2 }
                probe.send(
                    text: #"{"topic":"realtime:room:1","event":"access_token","payload":{"access_token":"\#(visitor)"},"ref":"3","join_ref":"1"}"#)
                probe.read(timeout: 30) { $0.messages.contains { $0.contains("phx_close") } }
                probe.send(text: #"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"4","join_ref":null}"#)
                probe.send(text: #"{"topic":"realtime:lobby","event":"phx_leave","payload":{},"ref":"5","join_ref":"2"}"#)
                return probe.read(timeout: 30) { $0.messages.contains { $0.contains(#""ref":"5""#) } }.messages
            }
            #expect(
                seen.contains {
                    $0.contains(#""event":"system""#) && $0.contains("You no longer have permission to read from this Channel topic: room:1")
                }, "\(seen)")
            #expect(seen.contains(#"{"topic":"realtime:room:1","event":"phx_close","payload":{},"ref":"1"}"#), "\(seen)")
            #expect(!seen.contains { $0.contains(#""event":"system""#) && $0.contains("lobby") }, "the visitor may still read lobby: \(seen)")
            #expect(seen.contains { $0.contains(#""ref":"5""#) && $0.contains(#""status":"ok""#) }, "lobby is still joined: \(seen)")
        }
    }
}

/// Presence with the real Python client across two relays: a client on one relay tracks itself,
/// a client on the other sees it join (state and diffs in Phoenix's shape), then leave.
@Suite struct SupabasePresenceTests {
    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            events = []
            watcher = AsyncRealtimeClient(sys.argv[2], None, auto_reconnect=False, timeout=60)
            await watcher.connect()
            watching = watcher.channel("room:p")
            watching.on_presence_join(lambda key, current, new: events.append(["join", key, [dict(p) for p in new]]))
            watching.on_presence_leave(lambda key, current, left: events.append(["leave", key, [dict(p) for p in left]]))
            await watching.subscribe(lambda state, error: out(watcher=getattr(state, "value", str(state))))

            tracker = AsyncRealtimeClient(sys.argv[1], None, auto_reconnect=False, timeout=60)
            await tracker.connect()
            tracking = tracker.channel("room:p", {"config": {"presence": {"key": "alice-device"}}})
            tracking.on_presence_sync(lambda: None)
            await tracking.subscribe(lambda state, error: out(tracker=getattr(state, "value", str(state))))
            await tracking.track({"user": "alice", "status": "online"})

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline and not any(e[0] == "join" for e in events):
                await asyncio.sleep(0.05)
            out(state=watching.presence_state())
            await tracker.close()
            deadline = loop.time() + 30
            while loop.time() < deadline and not any(e[0] == "leave" for e in events):
                await asyncio.sleep(0.05)
            out(events=events)
            await watcher.close()

        asyncio.run(main())
        """#

    @Test(.timeLimit(.minutes(3))) func presenceAcrossTwoRelaysWithTheOfficialClient() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { first in
            try await TestServer.with(db) { second in
                let python = try await Workers.value {
                    try PythonRealtime.start(
                        Self.script, ["http://127.0.0.1:\(first.port)/realtime/v1", "http://127.0.0.1:\(second.port)/realtime/v1"])
                }
                defer {
                    python.signal(SIGKILL)
                    _ = python.wait()
                }
                try await waitUntil(timeout: 90, "the presence report (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                    python.stdoutSoFar.contains(#"{"events": "#)
                }
                let lines = python.stdoutSoFar.split(separator: "\n").map(String.init)
                #expect(lines.contains(#"{"watcher": "SUBSCRIBED"}"#) && lines.contains(#"{"tracker": "SUBSCRIBED"}"#), "\(lines)")
                let state = try JSONValue(parsing: lines.first { $0.hasPrefix(#"{"state": "#) } ?? "{}")
                let present = state["state"]?["alice-device"]?.arrayValue ?? []
                #expect(
                    present.count == 1 && present.first?["user"] == .string("alice") && present.first?["presence_ref"]?.stringValue?.isEmpty == false,
                    "\(state)")
                let events = try JSONValue(parsing: lines.first { $0.hasPrefix(#"{"events": "#) } ?? "{}")["events"]?.arrayValue ?? []
                #expect(
                    events.map { "\($0.arrayValue?[0].stringValue ?? "") \($0.arrayValue?[1].stringValue ?? "")" } == [
                        "join alice-device", "leave alice-device",
                    ], "\(events)")
                #expect(events.last?.arrayValue?[2].arrayValue?.first?["user"] == .string("alice"), "the leave carries the meta that left: \(events)")
            }
        }
    }
}

/// postgres_changes with the real Python client: INSERT, UPDATE and DELETE with their payloads and
/// column types, a filtered binding, and a write made right after "Subscribed to PostgreSQL".
@Suite struct SupabaseChangesTests {
    static let script = #"""
        import asyncio, json, sys
        from realtime import AsyncRealtimeClient

        def out(**fields): print(json.dumps(fields, default=str), flush=True)

        async def main():
            got = {"all": [], "paid": [], "narrow": []}
            client = AsyncRealtimeClient(sys.argv[1], None, auto_reconnect=False, timeout=60)
            await client.connect()
            channel = client.channel("db")
            channel.on_postgres_changes("*", table="orders", schema="public", callback=lambda p: got["all"].append(p))
            channel.on_postgres_changes("INSERT", table="orders", filter="status=eq.paid,total=gt.100", callback=lambda p: got["paid"].append(p))
            channel.on_system(lambda p: out(system=p.get("message") if isinstance(p, dict) else getattr(p, "message", str(p))))
            await channel.subscribe(lambda state, error: out(state=getattr(state, "value", str(state)), error=str(error) if error else None))
            narrow = client.channel("db:narrow")
            narrow.on_postgres_changes("UPDATE", table="orders", select=["status"], callback=lambda p: got["narrow"].append(p))
            narrow.on_system(lambda p: out(system=p.get("message") if isinstance(p, dict) else getattr(p, "message", str(p))))
            await narrow.subscribe(lambda state, error: out(narrow=getattr(state, "value", str(state)), error=str(error) if error else None))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline and (len(got["all"]) < 4 or not got["narrow"]):
                await asyncio.sleep(0.05)
            out(all=got["all"], paid=got["paid"], narrow=got["narrow"])
            await client.close()

        asyncio.run(main())
        """#

    @Test(.timeLimit(.minutes(3))) func theOfficialClientGetsTableChanges() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db) { server in
            let python = try await Workers.value { try PythonRealtime.start(Self.script, ["http://127.0.0.1:\(server.port)/realtime/v1"]) }
            defer {
                python.signal(SIGKILL)
                _ = python.wait()
            }
            try await waitUntil(timeout: 60, "both channels' system messages (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                python.stdoutSoFar.components(separatedBy: "Subscribed to PostgreSQL").count == 3
            }
            // Right after the system message: delivered (the relay is live from a known id by then).
            try await db.execute("insert into orders values (1, 'paid', 150)")
            try await db.execute("insert into orders values (2, 'paid', 50)")
            try await db.execute("update orders set status = 'sent' where id = 1")
            try await db.execute("delete from orders where id = 2")
            try await waitUntil(timeout: 60, "the report (stdout: \(python.stdoutSoFar), stderr: \(python.stderrSoFar))") {
                python.stdoutSoFar.contains(#"{"all": "#)
            }
            #expect(python.stdoutSoFar.contains(#"{"state": "SUBSCRIBED", "error": null}"#), "\(python.stdoutSoFar)")
            let report = try JSONValue(parsing: String(python.stdoutSoFar.split(separator: "\n").last { $0.hasPrefix(#"{"all": "#) } ?? ""))
            let all = (report["all"]?.arrayValue ?? []).compactMap { $0["data"] }
            #expect(
                all.map { $0["type"]?.stringValue ?? "" } == ["INSERT", "INSERT", "UPDATE", "DELETE"],
                "\(report); stdout: \(python.stdoutSoFar); stderr: \(python.stderrSoFar)")
            #expect(all.first?["record"]?["total"] == .number("150") && all.first?["record"]?["status"] == .string("paid"), "\(report)")
            #expect(
                all.first?["columns"]?.arrayValue?.map { "\($0["name"]?.stringValue ?? "") \($0["type"]?.stringValue ?? "")" } == [
                    "id int4", "status text", "total numeric",
                ], "\(report)")
            #expect(all.allSatisfy { $0["schema"] == .string("public") && $0["table"] == .string("orders") && $0["errors"] == .null }, "\(report)")
            #expect(all.first?["commit_timestamp"]?.stringValue?.count == 24, "milliseconds: \(report)")
            // Checked above to be four; a failure there must not crash the suite here.
            if all.count == 4 {
                #expect(all[2]["record"]?["status"] == .string("sent") && all[2]["old_record"] == .object([("id", .number("1"))]), "\(report)")
                #expect(all[3]["old_record"] == .object([("id", .number("2"))]) && all[3]["record"] == nil, "\(report)")
            }
            let paid = (report["paid"]?.arrayValue ?? []).compactMap { $0["data"]?["record"]?["id"] }
            #expect(paid == [.number("1")], "the filtered binding gets only the paid order over 100: \(report)")
            // select: the selected columns and the key, in record, old_record and columns.
            let narrow = (report["narrow"]?.arrayValue ?? []).compactMap { $0["data"] }
            #expect(narrow.count == 1 && narrow.first?["record"] == .object([("id", .number("1")), ("status", .string("sent"))]), "\(report)")
            #expect(narrow.first?["columns"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["id", "status"], "\(report)")
            #expect(narrow.first?["old_record"] == .object([("id", .number("1"))]), "\(report)")
        }
    }
}
