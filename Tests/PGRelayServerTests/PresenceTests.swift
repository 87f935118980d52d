import Foundation
import HummingbirdWSClient
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Presence across two relays: tracked on one, seen on the other as a state and as diffs; one user
/// on two sockets is one presence, online while either is; closing a socket leaves.
@Suite struct PresenceTests {
    typealias Inbox = WebSocketRouteTests.Inbox

    func events(_ all: [JSONValue], _ type: String) -> [JSONValue] {
        all.filter { $0["type"] == .string(type) }.compactMap { $0["message"] }
    }

    @Test func presenceIsSharedByRelays() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "room:1", kind: .presence))
        try await TestServer.with(db) { first in
            try await TestServer.with(db) { second in
                let logger = {
                    var logger = Logger(label: "ws.test")
                    logger.logLevel = .warning
                    return logger
                }()
                let watcher = Inbox()
                let url = "ws://127.0.0.1:\(second.port)/v1/ws"
                try await webSocketSession(url, logger: logger) { inbound, outbound, _ in
                    try await readingTexts(inbound, onText: { watcher.add($0) }) {
                        try await outbound.write(.text(#"{"type":"subscribe","id":"c","channel":"room:1"}"#))
                        _ = try await watcher.wait { !events($0, "presence_state").isEmpty }
                        // alice on two sockets of the first relay: one presence.
                        let phone = Inbox()
                        try await webSocketSession("ws://127.0.0.1:\(first.port)/v1/ws", logger: logger) { inbound2, outbound2, _ in
                            try await readingTexts(inbound2, onText: { phone.add($0) }) {
                                try await outbound2.write(
                                    .text(
                                        #"{"type":"track","ref":"t","channel":"room:1","user":"alice","status":"online","meta":{"device":"phone"}}"#))
                                _ = try await phone.wait { $0.contains { $0["type"] == .string("tracked") } }
                                _ = try await watcher.wait { events($0, "presence_diff").count == 1 }
                                let seen = try JSONValue(parsing: try await second.get("/v1/channels/room:1/presence").body)
                                #expect(seen["presence"]?["alice"]?["status"] == .string("online"), "\(seen)")
                                #expect(seen["presence"]?["alice"]?["meta"]?["device"] == .string("phone"))

                                let laptop = Inbox()
                                try await webSocketSession("ws://127.0.0.1:\(first.port)/v1/ws", logger: logger) { inbound3, outbound3, _ in
                                    try await readingTexts(inbound3, onText: { laptop.add($0) }) {
                                        try await outbound3.write(
                                            .text(
                                                #"{"type":"track","ref":"t","channel":"room:1","user":"alice","status":"away","meta":{"device":"laptop"}}"#
                                            )
                                        )
                                        _ = try await laptop.wait { $0.contains { $0["type"] == .string("tracked") } }
                                        _ = try await watcher.wait { events($0, "presence_diff").count == 2 }
                                        let both = try JSONValue(parsing: try await second.get("/v1/channels/room:1/presence").body)
                                        #expect(
                                            both["presence"]?["alice"]?["connections"] == .number("2")
                                                && both["presence"]?["alice"]?["status"] == .string("away"), "\(both)")
                                        try await outbound3.close(.normalClosure, reason: nil)
                                    }
                                }
                                // The laptop left; alice is still online on her phone (its status shows again).
                                _ = try await watcher.wait { events($0, "presence_diff").count == 3 }
                                let one = try JSONValue(parsing: try await second.get("/v1/channels/room:1/presence").body)
                                #expect(
                                    one["presence"]?["alice"]?["connections"] == .number("1")
                                        && one["presence"]?["alice"]?["status"] == .string("online"),
                                    "\(one)")
                                try await outbound2.write(.text(#"{"type":"untrack","ref":"u","channel":"room:1"}"#))
                                _ = try await phone.wait { $0.contains { $0["type"] == .string("untracked") } }
                                try await outbound2.close(.normalClosure, reason: nil)
                            }
                        }
                        _ = try await watcher.wait { events($0, "presence_diff").count == 4 }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                let diffs = events(watcher.all, "presence_diff")
                #expect(
                    diffs.map { $0["joins"]?["alice"]?["status"] ?? $0["leaves"]?["alice"]?["status"] } == [
                        .string("online"), .string("away"), .string("online"), .string("online"),
                    ], "\(diffs)")
                #expect(diffs.map { $0["leaves"]?["alice"] != nil } == [false, false, false, true])
                #expect(events(watcher.all, "presence_state").first?["presence"] == .object([]))
                let gone = try JSONValue(parsing: try await second.get("/v1/channels/room:1/presence?all=true").body)
                #expect(
                    gone["presence"]?["alice"]?["online"] == .bool(false) && gone["presence"]?["alice"]?["connections"] == .number("0"), "\(gone)")
            }
        }
    }

    /// With auth, a socket tracks as its token's user; members only on private channels; bad input is an error.
    @Test func tracksAreTheTokensAndChecked() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "team", kind: .private))
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: [])
        try await TestServer.with(
            db,
            configure: {
                $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy)
                $0.limits.ephemeralBytes = 100
                $0.limits.channelsPerSocket = 2
            }
        ) { server in
            var logger = Logger(label: "ws.test")
            logger.logLevel = .warning
            let token = try await AuthTests.token(sub: "alice")
            let inbox = Inbox()
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(token)", logger: logger) { inbound, outbound, _ in
                try await readingTexts(inbound, onText: { inbox.add($0) }) {
                    for text in [
                        #"{"type":"track","ref":"1","channel":"lobby","status":"busy"}"#,
                        #"{"type":"track","ref":"2","channel":"lobby","user":"mallory"}"#,
                        #"{"type":"track","ref":"3","channel":"team"}"#,
                        #"{"type":"track","ref":"4","channel":"lobby","meta":[1]}"#,
                        #"{"type":"track","ref":"5","channel":"lobby","status":""}"#,
                        #"{"type":"untrack","ref":"6","channel":"elsewhere"}"#,
                        #"{"type":"track","ref":"7","channel":"lobby","meta":{"big":"\#(String(repeating: "x", count: 200))"}}"#,
                        #"{"type":"track","ref":"8","channel":"hall"}"#,
                        #"{"type":"track","ref":"9","channel":"attic"}"#,
                    ] { try await outbound.write(.text(text)) }
                    _ = try await inbox.wait { all in
                        (1...9).allSatisfy { n in all.contains { $0["ref"] == .string("\(n)") || $0["id"] == .string("\(n)") } }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            let all = inbox.all
            func error(_ id: String, _ text: String) -> Bool {
                all.contains { $0["id"] == .string(id) && $0["message"]?.stringValue?.contains(text) == true }
            }
            #expect(all.contains { $0["type"] == .string("tracked") && $0["ref"] == .string("1") })
            #expect(error("2", "takes its user from the token"), "\(all)")
            #expect(error("3", "members only"), "\(all)")
            #expect(error("4", "\"meta\" must be a JSON object"), "\(all)")
            #expect(error("5", "a presence status is 1 to 64 characters"), "\(all)")
            #expect(error("6", "does not track a presence on channel elsewhere"), "\(all)")
            #expect(error("7", "presence metadata has 210 bytes; it may have at most 100"), "\(all)")
            #expect(all.contains { $0["type"] == .string("tracked") && $0["ref"] == .string("8") })
            #expect(error("9", "limits.channels_per_socket"), "\(all)")
            // The socket closed: alice leaves (when the relay has seen the close), her last status kept.
            try await waitUntil("alice to leave") { try PresenceStore(connection: db.connection).presences(user: "alice").allSatisfy { !$0.online } }
            let presences = try PresenceStore(connection: db.connection).presences(user: "alice")
            #expect(presences.map { "\($0.channel) \($0.status) \($0.online)" } == ["hall online false", "lobby busy false"])
        }
    }
}
