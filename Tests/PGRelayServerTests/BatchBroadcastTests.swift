import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `POST /realtime/v1/api/broadcast` is all or nothing: a batch with one message the caller may
/// not send, or more messages than its rate allows, writes none and says which message or which
/// limit, so that a client that retries never duplicates what was written.
@Suite struct BatchBroadcastTests {
    @Test func aBatchIsWrittenWholeOrNotAtAll() async throws {
        let db = try await ordersDatabase()
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: ["authenticated: room:*"])
        try await TestServer.with(
            db,
            configure: {
                $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy)
                $0.limits.messagesPerSecond = 10
            }
        ) { server in
            let token = try await AuthTests.token(sub: "alice")
            func batch(_ topics: [String]) async throws -> (status: Int, body: String) {
                let messages = topics.enumerated().map { index, topic in
                    JSONValue.object([("topic", .string(topic)), ("event", .string("note")), ("payload", .object([("n", .number(String(index)))]))])
                }
                return try await server.post(
                    "/realtime/v1/api/broadcast", body: JSONValue.object([("messages", .array(messages))]).jsonText,
                    headers: [("Authorization", "Bearer \(token)")]
                )
            }
            func logged() throws -> Int {
                Int(try db.connection.query("select count(*) from realtime.log where channel like 'realtime:channel:%'").first?[0] ?? "") ?? -1
            }
            // The third message goes where alice may not send: none of the three is written.
            let forbidden = try await batch(["room:1", "room:2", "secret:1"])
            #expect(forbidden.status == 403 && forbidden.body.contains("message 3:"), "\(forbidden)")
            #expect(try logged() == 0)
            // A bad event name in the last message: none written either.
            let badEvent = try await server.post(
                "/realtime/v1/api/broadcast",
                body: #"{"messages":[{"topic":"room:1","event":"ok","payload":{}},{"topic":"room:1","event":"","payload":{}}]}"#,
                headers: [("Authorization", "Bearer \(token)")]
            )
            #expect(badEvent.status == 400 && badEvent.body.contains("message 2:"), "\(badEvent)")
            #expect(try logged() == 0)
            // More messages than limits.messages_per_second allows: refused whole, naming the limit.
            let tooMany = try await batch(Array(repeating: "room:1", count: 11))
            #expect(tooMany.status == 429 && tooMany.body.contains("limits.messages_per_second"), "\(tooMany)")
            #expect(try logged() == 0)
            // Within it (the refused batch of three counted: the rate is checked before the rules, so
            // that a batch over it costs the database nothing): all of them, in one transaction.
            let accepted = try await batch(Array(repeating: "room:1", count: 5))
            #expect(accepted.status == 202, "\(accepted)")
            let rows = try db.connection.query("select count(*), count(distinct xid) from realtime.log where channel like 'realtime:channel:%'")
            #expect(rows.first?[0] == "5" && rows.first?[1] == "1", "five messages in one transaction: \(rows)")
        }
    }
}
