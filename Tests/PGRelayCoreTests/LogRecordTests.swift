import Testing

@testable import PGRelayCore

@Suite struct LogRecordTests {
    func record(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    @Test func aRowLevelRecordIsOneChange() throws {
        let changes = try LogRecord.changes(
            in: record(#"{"operation":"UPDATE","schema":"s","table":"t","new":{"id":1,"v":2},"old":{"id":1,"v":1}}"#),
            count: 1, firstID: 41, timestamp: "2026-12-02T00:00:00.000000Z"
        )
        #expect(changes.count == 1 && changes[0].id == 41 && changes[0].operation == .update)
        #expect(changes[0].changedColumns == ["v"])
    }

    @Test func aChunkIsNumberedInOrder() throws {
        let changes = try LogRecord.changes(
            in: record(#"{"operation":"INSERT","schema":"s","table":"t","new":[{"id":1},{"id":2},{"id":3}],"old":null}"#),
            count: 3, firstID: 10, timestamp: "ts"
        )
        #expect(changes.map(\.id) == [10, 11, 12])
        #expect(changes.map { $0.new?["id"] } == [.number("1"), .number("2"), .number("3")])
        #expect(changes.allSatisfy { $0.operation == .insert && $0.old == nil && $0.table == TableName(schema: "s", name: "t") })
    }

    /// An UPDATE chunk paired by key: a key only before is a DELETE, only after an INSERT.
    @Test func unpairedUpdateRowsAreDeletesAndInserts() throws {
        let changes = try LogRecord.changes(
            in: record(#"{"operation":"UPDATE","schema":"s","table":"t","new":[{"id":2},null,{"id":9}],"old":[{"id":2},{"id":1},null]}"#),
            count: 3, firstID: 1, timestamp: "ts"
        )
        #expect(changes.map(\.operation) == [.update, .delete, .insert])
        #expect(changes[1].new == nil && changes[1].old?["id"] == .number("1"))
        #expect(changes[2].old == nil && changes[2].new?["id"] == .number("9"))
    }

    @Test(arguments: [
        (#"{"operation":"INSERT","schema":"s","table":"t","new":[{"id":1}],"old":null}"#, 2),
        (#"{"operation":"UPDATE","schema":"s","table":"t","new":[{"id":1}],"old":[{"id":1},{"id":2}]}"#, 1),
        (#"{"operation":"INSERT","schema":"s","table":"t","new":[1],"old":null}"#, 1),
        (#"{"operation":"UPDATE","schema":"s","table":"t","new":[null],"old":[null]}"#, 1),
        (#"{"operation":"INSERT","schema":"s","table":"t","new":{"id":1},"old":null}"#, 2),
        (#"{"operation":"INSERT","schema":"s","table":"t","new":"x","old":[]}"#, 0),
        (#"{"operation":"UPSERT","schema":"s","table":"t","new":[{"id":1}],"old":null}"#, 1),
    ])
    func malformedRecordsAreErrorsNotTraps(text: String, count: Int) throws {
        #expect(throws: ChangeEventDecodingError.self) {
            try LogRecord.changes(in: record(text), count: count, firstID: 1, timestamp: "ts")
        }
    }
}

@Suite struct PollScheduleTests {
    @Test func pollsFastWhileChangesFlowAndBacksOffWhenIdle() {
        var schedule = PollSchedule(interval: 0.01, idleInterval: 0.25, idleGrace: 1)
        #expect(schedule.nextWait == 0.01)
        for _ in 0..<99 { schedule.polled(foundChanges: false) }
        #expect(schedule.nextWait == 0.01, "still within the grace second")
        schedule.polled(foundChanges: false)
        schedule.polled(foundChanges: false)
        #expect(schedule.nextWait > 0.01)
        for _ in 0..<20 { schedule.polled(foundChanges: false) }
        #expect(schedule.nextWait == 0.25)
        schedule.polled(foundChanges: true)
        #expect(schedule.nextWait == 0.01)
    }
}
