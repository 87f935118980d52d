import Foundation
import Testing

@testable import PGRelayCore

@Suite struct ChangeEventTests {
    static let update =
        #"{"id":42,"timestamp":"2026-11-23T10:00:00.123456Z","operation" : "UPDATE", "schema" : "public", "table" : "orders", "new" : {"id":7,"status":"paid","total":12.5}, "old" : {"id":7,"status":"open","total":12.5}}"#

    @Test func decodesTheCanonicalForm() throws {
        let event = try ChangeEvent(jsonText: Self.update)
        #expect(event.id == 42)
        #expect(event.operation == .update)
        #expect(event.table == TableName(schema: "public", name: "orders"))
        #expect(event.new?["status"] == .string("paid"))
        #expect(event.changedColumns == ["status"])
        #expect(
            event.canonicalJSONText
                == #"{"id":42,"timestamp":"2026-11-23T10:00:00.123456Z","operation":"UPDATE","schema":"public","table":"orders","new":{"id":7,"status":"paid","total":12.5},"old":{"id":7,"status":"open","total":12.5}}"#
        )
        #expect(try ChangeEvent(jsonText: event.canonicalJSONText) == event)
    }

    @Test(arguments: [
        "", "not json", "[]", "{}", #"{"id":1}"#,
        #"{"id":"1","timestamp":"t","operation":"INSERT","schema":"s","table":"t","new":{}}"#,
        #"{"id":-1,"timestamp":"t","operation":"INSERT","schema":"s","table":"t","new":{}}"#,
        #"{"id":1.5,"timestamp":"t","operation":"INSERT","schema":"s","table":"t","new":{}}"#,
        #"{"id":1,"timestamp":"t","operation":"UPSERT","schema":"s","table":"t","new":{}}"#,
        #"{"id":1,"timestamp":"t","operation":"INSERT","schema":"s","new":{}}"#,
        #"{"id":1,"operation":"INSERT","schema":"s","table":"t","new":{}}"#,
        #"{"id":1,"timestamp":"t","operation":"INSERT","schema":"s","table":"t","new":[1]}"#,
        #"{"id":99999999999999999999,"timestamp":"t","operation":"INSERT","schema":"s","table":"t"}"#,
    ])
    func rejectsInvalidEvents(_ text: String) {
        #expect(throws: ChangeEventDecodingError.self) { try ChangeEvent(jsonText: text) }
    }

    @Test func generatedEventsRoundTripThroughCanonicalJSON() throws {
        var rng = SplitMix64(seed: 11)
        for i in 0..<1000 {
            let operation = Operation.allCases.randomElement(using: &rng)!
            func row() -> JSONValue { .object((0..<3).map { _ in (Generate.string(&rng, maxLength: 5) + "c", Generate.json(&rng, depth: 2)) }) }
            let event = ChangeEvent(
                id: Int64(i + 1), timestamp: "2026-11-23T10:00:00.000000Z", operation: operation,
                table: TableName(schema: Generate.string(&rng) + "s", name: Generate.string(&rng) + "t"),
                new: [.insert, .update].contains(operation) ? row() : nil,
                old: [.update, .delete].contains(operation) ? row() : nil
            )
            #expect(try ChangeEvent(jsonText: event.canonicalJSONText) == event)
        }
    }

    @Test func readableTextShowsWhatChanged() throws {
        let event = try ChangeEvent(jsonText: Self.update)
        #expect(event.readableText == "2026-11-23T10:00:00.123456Z  #42  UPDATE  public.orders\n  status: \"open\" → \"paid\"")
        let truncate = ChangeEvent(id: 1, timestamp: "T", operation: .truncate, table: TableName(schema: "a", name: "B"), new: nil, old: nil)
        #expect(truncate.readableText == "T  #1  TRUNCATE  a.\"B\"")
        let insert = ChangeEvent(
            id: 2, timestamp: "T", operation: .insert, table: TableName(schema: "a", name: "b"), new: .object([("x", .number("1"))]), old: nil)
        #expect(insert.readableText == "T  #2  INSERT  a.b\n  x: 1")
    }
}

@Suite struct ParsingTests {
    @Test func eventSets() throws {
        #expect(try EventSet(parsing: "insert, UPDATE").operations == [.insert, .update])
        #expect(try EventSet(parsing: "ALL") == EventSet(operations: Set(Operation.allCases)))
        #expect(EventSet.default.description == "INSERT,UPDATE,DELETE,TRUNCATE")
        for bad in ["", "INSERT,,UPDATE", "UPSERT", "insert;update"] {
            #expect(throws: EventSetError.self) { try EventSet(parsing: bad) }
        }
    }

    @Test func replayStarts() throws {
        #expect(try ReplayStart(parsing: "42") == .afterID(42))
        #expect(try ReplayStart(parsing: "@1763892000") == .at(Date(timeIntervalSince1970: 1_763_892_000)))
        #expect(try ReplayStart(parsing: "2026-11-23T10:00:00Z") == .at(Date(timeIntervalSince1970: 1_795_428_000)))
        #expect(try ReplayStart(parsing: "2026-11-23T11:00:00.5+01:00") == .at(Date(timeIntervalSince1970: 1_795_428_000.5)))
        #expect(try ReplayStart(parsing: "2026-11-23") == .at(Date(timeIntervalSince1970: 1_795_392_000)))
        #expect(try ReplayStart(parsing: "2026-11-23 05:00-0500") == .at(Date(timeIntervalSince1970: 1_795_428_000)))
        #expect(try ReplayStart(parsing: "2024-02-29T00:00:00Z") == .at(Date(timeIntervalSince1970: 1_709_164_800)))
        for (bad, why) in [
            ("", "is not a date"), ("-1", "ids are 0 or more"), ("yesterday", "is not a date"), ("@", "is not unix seconds"),
            ("@x", "is not unix seconds"), ("@1e300", "outside the years 1 to 9999"), ("2026-13-01T00:00:00Z", "no month 13"),
            ("2026-11-24garbage", "unexpected text after the date"), ("2026-11-24T10:00:00", "has no zone"),
            ("2026-11-24T10:00:00+25:00", "beyond ±15:59"), ("2026-02-30T00:00:00Z", "no day 30 in month 2"),
            ("2025-02-29", "no day 29"), ("2026-11-24T24:00:00Z", "no time 24:0"), ("2026-11-24T10:00:00Zjunk", "after the zone"),
            ("99999999999999999999", "larger than any id"),
        ] {
            #expect { try ReplayStart(parsing: bad) } throws: { error in
                let text = "\(error)"
                return text.contains(why) && text.contains("ISO-8601 time with a zone")
            }
        }
    }

    @Test func emptyEventNamesSayWhatIsWrong() {
        #expect { try EventSet(parsing: "INSERT,,UPDATE") } throws: { "\($0)".contains("has an empty name (two commas in a row") }
        #expect { try EventSet(parsing: "") } throws: { "\($0)".contains("is empty") }
        #expect { try StreamRequest(query: "events=") } throws: { "\($0)".contains("is empty") }
    }

    @Test func retentionAges() throws {
        #expect(try RetentionAge(parsing: "24h").seconds == 86_400)
        #expect(try RetentionAge(parsing: "1d12h").seconds == 129_600)
        #expect(try RetentionAge(parsing: "90s").seconds == 90)
        for bad in ["", "24", "h", "0h", "1y", "-1h", "99999999999999999999w", "1.5h", "5219w", "99999999w"] {
            #expect(throws: RetentionAgeError.self) { try RetentionAge(parsing: bad) }
        }
    }

    @Test func cursorAndBackoff() {
        var cursor = DeliveryCursor(after: 5)
        #expect(!cursor.isNew(5))
        #expect(cursor.isNew(6))
        cursor.delivered(9)
        cursor.delivered(7)
        #expect(cursor.lastID == 9)
        var backoff = Backoff(initial: 0.1, maximum: 0.5)
        #expect([backoff.nextDelay(), backoff.nextDelay(), backoff.nextDelay(), backoff.nextDelay()] == [0.1, 0.2, 0.4, 0.5])
        backoff.reset()
        #expect(backoff.nextDelay() == 0.1)
    }
}
