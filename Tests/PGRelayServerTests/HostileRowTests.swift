import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Rows an attacker (or an unlucky application) can store, through the whole relay.
@Suite struct HostileRowTests {
    /// jsonb nested 10,000 levels deep (Postgres' default stack allows about that): delivered
    /// intact live and in replay, with Postgres judging "intact", and the listener stays up.
    @Test func deeplyNestedJSONBIsDeliveredIntactLiveAndInReplay() async throws {
        let db = try await TestDatabase.make()
        try await db.execute("create table docs (id int primary key, doc jsonb)")
        try db.installer.subscribe(TableName(schema: "public", name: "docs"))
        try await TestServer.with(db) { server in
            let live = Task { try await server.stream("/v1/stream/public.docs", count: 3, timeout: 60) }
            try await server.waitForHealth { $0["subscribers"] == .number("1") }
            try await db.execute(
                """
                insert into docs values (1, (repeat('[', 10000) || '1' || repeat(']', 10000))::jsonb);
                insert into docs values (2, (repeat('{"a": [', 3000) || '"x\\"y"' || repeat(']}', 3000))::jsonb);
                insert into docs values (3, '{"small": true}');
                """
            )
            let streamed = try await live.value
            #expect(streamed.events.map { $0.change.new?["id"] } == ["1", "2", "3"].map { .number($0) })
            let replayed = try await server.get("/v1/changes/public.docs?since=0")
            #expect(replayed.status == 200)
            let page = try JSONValue(parsing: replayed.body)
            guard case .array(let changes)? = page["changes"] else {
                Issue.record("no changes in \(replayed.body.prefix(200))")
                return
            }
            let replayedDocs = try changes.map { try ChangeEvent(json: $0) }
            #expect(replayedDocs.map { $0.new?["id"] } == ["1", "2", "3"].map { .number($0) })
            for change in streamed.events.map(\.change) + replayedDocs {
                let id = change.new!["id"]!.jsonText
                let same = try db.connection.query("select doc = $1::jsonb from docs where id = $2", [change.new!["doc"]!.jsonText, id])
                #expect(same.first?[0] == "t", "row \(id) was not delivered intact")
            }
            let health = try await server.health()
            #expect(health["listener"] == .bool(true) && health["status"] == .string("ok"))
        }
    }
}
