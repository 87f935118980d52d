import Foundation
import HummingbirdWSClient
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Synchronization
import Testing

/// Channels on the native WebSocket: subscribe to a channel (with `since`), send, and the
/// errors that leave the socket open.
@Suite struct ChannelWebSocketTests {
    typealias Inbox = WebSocketRouteTests.Inbox

    func messages(_ all: [JSONValue], _ subscription: String) -> [JSONValue] {
        all.filter { $0["type"] == .string("message") && $0["subscription"] == .string(subscription) }.compactMap { $0["message"] }
    }

    @Test func subscribeSendAndResume() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "room:1"))
        try await db.execute("select realtime.send('\"before\"', 'chat', 'room:1', false)")
        try await TestServer.with(db, configure: { $0.limits.channelsPerSocket = 2 }) { server in
            let inbox = Inbox()
            var logger = Logger(label: "ws.test")
            logger.logLevel = .warning
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws", logger: logger) { inbound, outbound, _ in
                try await readingTexts(inbound, onText: { inbox.add($0) }) {
                    try await outbound.write(.text(#"{"type":"subscribe","id":"c1","channel":"room:1","since":0}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"c2","channel":"room:2"}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"c3","channel":"room:3"}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"bad","channel":"bad name"}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"both","channel":"room:1","table":"public.orders"}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"f","channel":"room:1","filter":"a=eq.1"}"#))
                    _ = try await inbox.wait {
                        $0.filter { $0["type"] == .string("live") }.count == 2 && $0.filter { $0["type"] == .string("error") }.count == 4
                    }
                    try await outbound.write(.text(#"{"type":"send","ref":"m1","channel":"room:1","event":"chat","payload":{"text":"hi"}}"#))
                    try await outbound.write(.text(#"{"type":"send","ref":"m2","channel":"room:2","event":"typing","payload":true}"#))
                    try await outbound.write(.text(#"{"type":"send","ref":"m3","channel":"room:1","event":"","payload":1}"#))
                    try await outbound.write(.text(#"{"type":"send","ref":"m4","channel":"room:1","event":"chat","sender":"mallory"}"#))
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("sent") && $0["ref"] == .string("m2") } }
                    try await db.execute("select realtime.send('\"from sql\"', 'chat', 'room:2', false)")
                    _ = try await inbox.wait { messages($0, "c1").count == 2 && messages($0, "c2").count == 2 }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            let all = inbox.all
            #expect(messages(all, "c1").map { $0["payload"] } == [.string("before"), .object([("text", .string("hi"))])])
            #expect(messages(all, "c2").map { $0["payload"] } == [.bool(true), .string("from sql")])
            #expect(all.filter { $0["type"] == .string("sent") }.map { $0["ref"] } == [.string("m1"), .string("m2")])
            let errors = all.filter { $0["type"] == .string("error") }
            func error(_ id: String, _ text: String) -> Bool {
                errors.contains { $0["id"] == .string(id) && $0["message"]?.stringValue?.contains(text) == true }
            }
            #expect(error("c3", "limits.channels_per_socket"), "\(errors)")
            #expect(error("bad", "channel name 'bad name' is not allowed"), "\(errors)")
            #expect(error("both", "not both"), "\(errors)")
            #expect(error("f", "takes no \"filter\""), "\(errors)")
            #expect(error("m3", "event name '' is not allowed"), "\(errors)")
            #expect(error("m4", "not \"sender\""), "\(errors)")
            // The ids seen live are the log's: a reader resuming after the first gets the rest.
            let ids = messages(all, "c1").compactMap { $0["id"]?.jsonText }
            let page = try JSONValue(parsing: try await server.get("/v1/channels/room:1/messages?since=\(ids[0])").body)
            #expect(page["messages"]?.arrayValue?.compactMap { $0["id"]?.jsonText } == [ids[1]])
        }
    }

    /// The sizes of the messages a socket received, as sent.
    final class Sizes: Sendable {
        let bytes = Mutex<[Int]>([])
    }

    /// The socket writes a batch of frames itself (``WebSocketBatchWriter``): frames around each
    /// length encoding's edges (125/126 bytes, 65,535/65,536) and larger than one batch arrive
    /// whole, in order, and the client's own pings are still answered between them.
    @Test func framesOfEveryLengthArriveWholeAndInOrder() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "sizes"))
        try await TestServer.with(db) { server in
            // Payloads whose messages (about 170 bytes of envelope more) cross 65,535 bytes, the
            // largest frame with a 2-byte length; one larger than a whole batch; small ones.
            let sizes = Array(stride(from: 65_200, through: 65_500, by: 25)) + [300_000, 0, 1]
            let inbox = Inbox()
            var logger = Logger(label: "ws.test")
            logger.logLevel = .warning
            // The client takes frames up to 1 MiB (its default is 16 KiB).
            let client = WebSocketClientConfiguration(maxFrameSize: 1 << 20)
            let received = Sizes()
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws", configuration: client, logger: logger) { inbound, outbound, _ in
                let onText: @Sendable (String) -> Void = { text in
                    inbox.add(text)
                    if text.hasPrefix(#"{"type":"message""#) { received.bytes.withLock { $0.append(text.utf8.count) } }
                }
                try await readingTexts(inbound, maxSize: 1 << 22, onText: onText) {
                    try await outbound.write(.text(#"{"type":"subscribe","id":"s","channel":"sizes"}"#))
                    _ = try await inbox.wait { $0.contains { $0["type"] == .string("live") } }
                    // One transaction: the relay delivers them as one batch.
                    let values = sizes.map { "(\($0))" }.joined(separator: ",")
                    try await db.execute("select realtime.send(to_jsonb(repeat('x', n)), 'e', 'sizes', false) from (values \(values)) v(n)")
                    try await outbound.write(.text(#"{"type":"ping"}"#))
                    _ = try await inbox.wait(timeout: 120) { messages($0, "s").count == sizes.count && $0.contains { $0["type"] == .string("pong") } }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            #expect(messages(inbox.all, "s").map { $0["payload"]?.stringValue?.count ?? -1 } == sizes)
            let frameBytes = received.bytes.withLock { $0 }
            #expect(
                frameBytes.contains(65_535) || (frameBytes.contains { $0 < 65_535 } && frameBytes.contains { $0 > 65_535 && $0 < 70_000 }),
                "the sizes did not cross the edge: \(frameBytes)")
        }
    }

    /// With auth, a socket sends as its token's user and reads only what its role and memberships allow.
    @Test func socketsFollowTheChannelRules() async throws {
        let db = try await ordersDatabase()
        let store = ChannelStore(connection: db.connection)
        try store.create(try Channel(name: "team", kind: .private))
        try store.join("team", user: "alice")
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: ["authenticated: team"])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            var logger = Logger(label: "ws.test")
            logger.logLevel = .warning
            for (user, expectJoined) in [("alice", true), ("mallory", false)] {
                let token = try await AuthTests.token(sub: user)
                let inbox = Inbox()
                try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(token)", logger: logger) { inbound, outbound, _ in
                    try await readingTexts(inbound, onText: { inbox.add($0) }) {
                        try await outbound.write(.text(#"{"type":"subscribe","id":"t","channel":"team"}"#))
                        try await outbound.write(.text(#"{"type":"send","ref":"s","channel":"team","event":"chat","payload":"hello"}"#))
                        try await outbound.write(.text(#"{"type":"send","ref":"o","channel":"lobby","event":"chat","payload":"hello"}"#))
                        _ = try await inbox.wait { all in
                            func answered(_ ref: String) -> Bool { all.contains { $0["ref"] == .string(ref) || $0["id"] == .string(ref) } }
                            return answered("s") && answered("o") && (expectJoined ? !messages(all, "t").isEmpty : answered("t"))
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                let all = inbox.all
                #expect(all.contains { $0["type"] == .string("subscribed") } == expectJoined, "\(user): \(all)")
                #expect(all.contains { $0["type"] == .string("sent") && $0["ref"] == .string("s") } == expectJoined, "\(user): \(all)")
                #expect(
                    all.contains { $0["id"] == .string("o") && $0["message"]?.stringValue?.contains("may not send on channel lobby") == true },
                    "\(user): \(all)")
                if expectJoined { #expect(messages(all, "t").first?["sender"] == .string("alice")) }
            }
            #expect(try db.ticked().page(after: 0).messages.map(\.sender) == ["alice"])
        }
    }
}
