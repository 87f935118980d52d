import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Channels over HTTP: an SSE stream of a channel's messages (live and resumed), JSON pages of
/// them, and sending with POST; every mistake a clear 4xx that sends nothing.
@Suite struct ChannelRouteTests {
    @Test func aChannelStreamsItsMessagesLiveAndResumes() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "room:1"))
        try await TestServer.with(db) { server in
            let stream = Task {
                try await server.stream("/v1/channels/room:1/stream", count: .max) { $0.messages.count >= 4 }
            }
            try await server.waitForHealth { $0["subscribers"] == .number("1") }
            let posted = try await server.post("/v1/channels/room:1/messages", body: #"{"event":"chat","payload":{"text":"from http"}}"#)
            #expect(posted.status == 202, "\(posted.body)")
            try await db.execute("select realtime.send('{\"text\":\"from sql\"}', 'chat', 'room:1', false)")
            // A table change and another channel's message are not this channel's.
            try await db.execute("insert into orders values (1, 'open', 5)")
            try await db.execute("select realtime.send('{}', 'chat', 'room:2', false)")
            try ChannelStore(connection: db.connection).send(
                try MessageDraft(channel: "room:1", event: "note", payload: .string("from the CLI's store"), sender: "ops"))
            try await db.execute("begin; insert into orders values (2, 'open', 6); select realtime.send('4', 'count', 'room:1', false); commit")
            let result = try await stream.value
            #expect(result.status == 200 && result.contentType.hasPrefix("text/event-stream"))
            #expect(result.others.prefix(2) == ["presence_state", "live"], "who is present, then live: \(result.raw)")
            let messages = result.messages.map(\.message)
            try #require(messages.count == 4, "\(result.raw)")
            #expect(
                messages.map { $0["payload"]?["text"]?.stringValue ?? $0["payload"]?.jsonText ?? "" } == [
                    "from http", "from sql", "\"from the CLI's store\"", "4",
                ])
            #expect(messages.allSatisfy { $0["channel"] == .string("room:1") && $0["type"] == .string("message") })
            #expect(messages[0]["sender"] == .null, "without auth, a relay's message has no sender")
            #expect(messages[2]["sender"] == .string("ops"))
            let ids = result.messages.map(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == 4 && zip(ids, messages).allSatisfy { $0.0 == Int64($0.1["id"]?.jsonText ?? "") })
            #expect(result.events.isEmpty, "no table change in a channel's stream")

            // Resuming after the second message (Last-Event-ID) replays the two after it, from the log.
            let resumed = try await server.stream("/v1/channels/room:1/stream", lastEventID: ids[1], count: .max) {
                $0.messages.count >= 2 && $0.others.contains("live")
            }
            #expect(resumed.messages.map(\.id) == Array(ids[2...]))
            // The same as a JSON page, after an id or from a time.
            let page = try JSONValue(parsing: try await server.get("/v1/channels/room:1/messages?since=\(ids[0])&limit=2").body)
            #expect(page["messages"]?.arrayValue?.map { $0["id"]?.jsonText ?? "" } == ids[1...2].map(String.init))
            #expect(page["has_more"] == .bool(true) && page["next_since"]?.jsonText == String(ids[2]))
            let all = try JSONValue(parsing: try await server.get("/v1/channels/room:1/messages?since=2020-01-01T00:00:00Z").body)
            #expect(all["messages"]?.arrayValue?.count == 4 && all["has_more"] == .bool(false))
        }
    }

    @Test func badRequestsAreClearAndSendNothing() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(
            db,
            configure: {
                $0.limits.messageBytes = 100
                $0.limits.messagesPerSecond = 3
            }
        ) { server in
            let cases: [(String, String, Int, String)] = [
                ("/v1/channels/room/messages", "{not json", 400, "the body must be JSON"),
                ("/v1/channels/room/messages", "[1]", 400, "the body must be a JSON object"),
                ("/v1/channels/room/messages", #"{"event":"chat","payload":1,"sender":"mallory"}"#, 400, "unknown field 'sender'"),
                ("/v1/channels/room/messages", #"{"payload":1}"#, 400, "must be a string naming the message"),
                ("/v1/channels/room/messages", #"{"event":"","payload":1}"#, 400, "event name '' is not allowed"),
                ("/v1/channels/bad%20name/messages", #"{"event":"chat"}"#, 400, "channel name 'bad name' is not allowed"),
                (
                    "/v1/channels/room/messages", #"{"event":"chat","payload":"\#(String(repeating: "x", count: 200))"}"#, 413,
                    "a message's payload may have at most 100"
                ),
                (
                    "/v1/channels/room/messages", #"{"event":"chat","payload":"\#(String(repeating: "x", count: 5000))"}"#, 413,
                    "the body is larger than a message may be"
                ),
                ("/v1/channels/room/messages?filter=x", #"{"event":"chat"}"#, 400, "unknown parameter 'filter'"),
            ]
            for (path, body, status, message) in cases {
                let answer = try await server.post(path, body: body)
                #expect(answer.status == status && answer.body.contains(message), "\(path) \(body.prefix(60)): \(answer.status) \(answer.body)")
            }
            for path in [
                "/v1/channels/room/messages?limit=0", "/v1/channels/room/messages?since=soon", "/v1/channels/room/stream?since=-1",
                "/v1/channels/room/stream?x=1",
            ] {
                let answer = try await server.get(path)
                #expect(answer.status == 400, "\(path): \(answer.status) \(answer.body)")
            }
            #expect(try db.ticked().page(after: 0).messages.isEmpty, "nothing was sent")
            // Past messages_per_second, sends are refused with 429 until the next second: twelve at
            // once from one address (the rule itself is SendRateTests').
            let started = Date()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<12 {
                    group.addTask { try await server.post("/v1/channels/room/messages", body: #"{"event":"n","payload":\#(n)}"#).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let seconds = Int(Date().timeIntervalSince(started).rounded(.up)) + 1
            let accepted = statuses.filter { $0 == 202 }.count
            #expect(accepted <= 3 * seconds && Set(statuses).isSubset(of: [202, 429]), "\(statuses)")
            #expect(statuses.contains(429) || seconds > 4, "\(statuses) in \(seconds) s")
            #expect(try db.ticked().page(after: 0).messages.count == accepted)
        }
    }

    /// With auth: role rules for public channels and uncreated topics, members only on private
    /// ones, and sending as its own right; the sender is the token's user, never the client's word.
    @Test func accessFollowsRolesAndMembership() async throws {
        let db = try await ordersDatabase()
        let store = ChannelStore(connection: db.connection)
        try store.create(try Channel(name: "room:1"))
        try store.create(try Channel(name: "team", kind: .private))
        try store.join("team", user: "alice")
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["reader: room:*", "writer: room:*, team"], send: ["writer: room:*, team"])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let reader = try await AuthTests.token(sub: "rita", role: "reader")
            let writer = try await AuthTests.token(sub: "alice", role: "writer")
            let outsider = try await AuthTests.token(sub: "mallory", role: "writer")
            let alice = writer
            func send(_ channel: String, _ token: String?) async throws -> Int {
                try await server.post(
                    "/v1/channels/\(channel)/messages", body: #"{"event":"chat","payload":"hi"}"#,
                    headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []
                ).status
            }
            func read(_ channel: String, _ token: String) async throws -> Int {
                try await server.get("/v1/channels/\(channel)/messages?access_token=\(token)").status
            }
            #expect(try await send("room:1", nil) == 401)
            #expect(try await send("room:1", reader) == 403, "a role that may only read cannot send")
            #expect(try await read("room:1", reader) == 200)
            #expect(try await read("room:9", reader) == 200, "an uncreated topic follows the role rules")
            #expect(try await read("lobby", reader) == 403)
            #expect(try await send("room:1", writer) == 202)
            #expect(try await send("team", writer) == 202, "alice is a member of team")
            #expect(try await send("team", outsider) == 403, "mallory is not")
            #expect(try await read("team", outsider) == 403)
            #expect(try await read("team", reader) == 403, "members only, whatever the role")
            let refused = try await server.get("/v1/channels/team/stream?access_token=\(outsider)")
            #expect(refused.status == 403 && refused.body.contains("members only"), "\(refused.body)")
            // A direct channel: its two members only.
            try store.create(try Channel(name: "dm:alice-bob", kind: .direct))
            try store.join("dm:alice-bob", user: "alice")
            #expect(try await read("dm:alice-bob", writer) == 200)
            #expect(try await read("dm:alice-bob", outsider) == 403)
            #expect(try await send("dm:alice-bob", outsider) == 403)

            // Moderators and admins remove members; members and outsiders do not; anyone may leave.
            try store.join("team", user: "mod", role: .moderator)
            try store.join("team", user: "boss", role: .admin)
            try store.join("team", user: "bob")
            func remove(_ user: String, by token: String) async throws -> (status: Int, body: String) {
                let answer = try await server.request("DELETE", "/v1/channels/team/members/\(user)", headers: [("Authorization", "Bearer \(token)")])
                return (answer.status, answer.body)
            }
            let bob = try await AuthTests.token(sub: "bob", role: "writer")
            let moderator = try await AuthTests.token(sub: "mod", role: "writer")
            let admin = try await AuthTests.token(sub: "boss", role: "writer")
            #expect(try await remove("alice", by: bob).status == 403, "a member removes nobody else")
            #expect(try await remove("alice", by: outsider).body.contains("only moderators and admins of channel team remove members"))
            #expect(try await remove("boss", by: moderator).body.contains("only an admin of channel team removes a member who is admin"))
            #expect(try await remove("bob", by: moderator).status == 204)
            #expect(try await remove("bob", by: moderator).status == 404, "bob is gone")
            #expect(try await remove("mod", by: admin).status == 204)
            #expect(try await remove("alice", by: alice).status == 204, "anyone may leave")
            #expect(try store.members(of: "team").map(\.user) == ["boss"])

            // The log also holds the removals, as access changes at their place (never delivered).
            let logged = try db.ticked().page(after: 0).messages
            #expect(logged.filter { $0.access != nil }.map { $0.access?.user } == ["bob", "mod", "alice"], "\(logged)")
            let messages = logged.filter { $0.access == nil }
            #expect(messages.map(\.channel) == ["room:1", "team"])
            #expect(messages.allSatisfy { $0.sender == "alice" }, "the sender is the token's sub")
            #expect(messages.map(\.isPrivate) == [false, true])
        }
    }
}
