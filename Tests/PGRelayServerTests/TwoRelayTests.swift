import Foundation
import HummingbirdWSClient
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Two relays on one database: what is sent through either reaches the subscribers of both, in
/// the same order with the same ids; ephemeral events reach both and are not in the log; a
/// subscriber resumes on the other relay with nothing lost or repeated.
@Suite struct TwoRelayTests {
    typealias Inbox = WebSocketRouteTests.Inbox

    @Test func messagesAndEphemeralEventsReachBothRelays() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "room:1"))
        try await TestServer.with(db) { first in
            try await TestServer.with(db) { second in
                var logger = Logger(label: "ws.test")
                logger.logLevel = .warning

                // An SSE reader on each relay, and a WebSocket on the first that sends.
                let streams = [first, second].map { server in
                    Task {
                        try await server.stream("/v1/channels/room:1/stream", count: .max, timeout: 60) {
                            $0.messages.count >= 4 && $0.raw.contains("event: broadcast")
                        }
                    }
                }
                try await first.waitForHealth { $0["subscribers"] == .number("1") }
                try await second.waitForHealth { $0["subscribers"] == .number("1") }
                let inbox = Inbox()
                try await webSocketSession("ws://127.0.0.1:\(second.port)/v1/ws", logger: logger) { inbound, outbound, _ in
                    try await readingTexts(inbound, onText: { inbox.add($0) }) {
                        try await outbound.write(.text(#"{"type":"subscribe","id":"c","channel":"room:1"}"#))
                        _ = try await inbox.wait { $0.contains { $0["type"] == .string("live") } }
                        try await outbound.write(.text(#"{"type":"send","ref":"1","channel":"room:1","event":"chat","payload":"over ws"}"#))
                        _ = try await inbox.wait { $0.contains { $0["ref"] == .string("1") } }
                        #expect(try await first.post("/v1/channels/room:1/messages", body: #"{"event":"chat","payload":"over http"}"#).status == 202)
                        try await db.execute("select realtime.send('\"over sql\"', 'chat', 'room:1', false)")
                        try ChannelStore(connection: db.connection).send(
                            try MessageDraft(channel: "room:1", event: "chat", payload: .string("over the cli"), sender: "ops"))
                        #expect(
                            try await first.post("/v1/channels/room:1/messages", body: #"{"event":"typing","payload":{"on":true},"ephemeral":true}"#)
                                .status
                                == 202)
                        _ = try await inbox.wait { all in
                            all.filter { $0["type"] == .string("message") }.count == 4 && all.contains { $0["type"] == .string("broadcast") }
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                var seen: [[Int64]] = []
                for stream in streams {
                    let result = try await stream.value
                    #expect(
                        result.messages.map { $0.message["payload"]?.stringValue } == ["over ws", "over http", "over sql", "over the cli"],
                        "\(result.raw)")
                    #expect(
                        result.raw.contains(#"event: broadcast"#) && result.raw.contains(#""event":"typing","payload":{"on":true}"#), "\(result.raw)")
                    seen.append(result.messages.map(\.id))
                }
                #expect(seen[0] == seen[1], "the same ids, in the same order, on both relays")
                let socketIDs = inbox.all.filter { $0["type"] == .string("message") }.compactMap { Int64($0["message"]?["id"]?.jsonText ?? "") }
                #expect(socketIDs == seen[0])
                let broadcast = inbox.all.first { $0["type"] == .string("broadcast") }?["message"]
                #expect(broadcast?["event"] == .string("typing") && broadcast?["payload"]?["on"] == .bool(true) && broadcast?["sender"] == .null)
                // The ephemeral event is not in the log: four messages, no more.
                #expect(try db.ticked().page(after: 0).messages.map(\.event) == ["chat", "chat", "chat", "chat"])

                // A reader that saw the first two on one relay resumes on the other and gets exactly the rest.
                let resumed = try await second.stream("/v1/channels/room:1/stream", lastEventID: seen[0][1], count: .max) {
                    $0.others.contains("live")
                }
                #expect(resumed.messages.map(\.id) == Array(seen[0][2...]))
            }
        }
    }
}
