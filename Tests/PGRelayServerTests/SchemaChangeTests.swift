import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Synchronization
import Testing

/// An `ALTER TABLE` while streams are open: their filters compare by the table's new types.
@Suite struct SchemaChangeTests {
    @Test func openStreamsFollowAColumnsNewTypeOrEndWhenTheFilterNoLongerFits() async throws {
        let db = try await TestDatabase.make()
        try await db.execute("create table events (id int primary key, at text, code text)")
        try db.installer.subscribe(TableName(schema: "public", name: "events"))
        try await TestServer.with(db) { server in
            // As text, '2024-01-01T03:00:00+00:00' < '2024-01-01T05:00:00+05:00'; as timestamptz
            // it is three hours later. The stream opens while `at` is text.
            let passedOne = Done()
            let after = Task {
                defer { passedOne.set() }
                // The SCHEMA events of the rename and the retyping come first, then the row.
                return try await server.stream("/v1/stream/public.events?at=gt.2024-01-01T05:00:00%2B05:00", count: .max, timeout: 60) {
                    $0.events.contains { $0.change.operation != .schema }
                }
            }
            // 'abc' is a text; once code is an integer, Postgres would refuse code=eq.abc.
            let unfit = Task {
                try await server.stream("/v1/stream/public.events?code=eq.abc", count: .max, timeout: 60) { $0.raw.contains("event: error") }
            }
            try await server.waitForHealth { $0["subscribers"] == .number("2") }
            try await db.execute(
                """
                alter table events rename to renamed_events;
                alter table renamed_events alter column at type timestamptz using at::timestamptz,
                                           alter column code type int using code::int
                """
            )
            // The relay reads the new types within seconds: insert until the row passes.
            var id = 1
            try await waitUntil("a row to pass by the column's new type") {
                id += 1
                try db.connection.execute("insert into renamed_events values (\(id), '2024-01-01T03:00:00+00:00', \(id))")
                return passedOne.value
            }
            let passed = try await after.value
            // Without the new types no row would ever pass: as text, each compares lower.
            #expect(passed.events.map(\.change.operation) == [.schema, .schema, .insert], "\(passed.raw)")
            let ended = try await unfit.value
            #expect(ended.events.allSatisfy { $0.change.operation == .schema })
            #expect(ended.raw.contains("the table changed since the stream started") && ended.raw.contains("code"), "\(ended.raw)")
            let health = try await server.health()
            #expect(health["status"] == .string("ok"))
        }
    }

    /// A filter on a column the table does not have is refused with the table's columns; an
    /// open stream whose filter column is dropped or renamed ends with an error, though the table
    /// sees no write after the change.
    @Test func filtersNameColumnsTheTableHas() async throws {
        let db = try await TestDatabase.make()
        try await db.execute("create table events (id int primary key, code text, note text)")
        try db.installer.subscribe(TableName(schema: "public", name: "events"))
        try await TestServer.with(db) { server in
            for path in [
                "/v1/stream/public.events?nonexistent=eq.1", "/v1/changes/public.events?nonexistent=eq.1",
                "/v1/stream/public.events?%22a%2Cb%22=eq.1",
            ] {
                let refused = try await server.get(path)
                #expect(refused.status == 400, "\(path): \(refused)")
                #expect(refused.body.contains("has no such column; its columns are code, id, note"), "\(path): \(refused.body)")
            }
            let dropped = Task {
                try await server.stream("/v1/stream/public.events?note=eq.x", count: .max, timeout: 60) { $0.raw.contains("event: error") }
            }
            let renamed = Task {
                try await server.stream("/v1/stream/public.events?code=eq.y", count: .max, timeout: 60) { $0.raw.contains("event: error") }
            }
            try await server.waitForHealth { $0["subscribers"] == .number("2") }
            try await db.execute("alter table events drop column note")
            try await db.execute("alter table events rename column code to kode")
            for (stream, column) in [(dropped, "note"), (renamed, "code")] {
                let ended = try await stream.value
                #expect(ended.events.allSatisfy { $0.change.operation == .schema })
                #expect(
                    ended.raw.contains("event: error") && ended.raw.contains("the table changed since the stream started")
                        && ended.raw.contains("'\(column)'"), "\(ended.raw)")
            }
        }
    }

    final class Done: Sendable {
        private let done = Mutex(false)
        func set() { done.withLock { $0 = true } }
        var value: Bool { done.withLock { $0 } }
    }
}
