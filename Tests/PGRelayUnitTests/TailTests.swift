import Foundation
import PGRelayCore
import PGRelayServer
import Testing

/// The Tail without a database: hints, scans, eviction and wake-ups.
@Suite struct TailTests {
    static let table = TableName(schema: "public", name: "t")

    static func change(_ id: Int64, channel: String = "a", row: Int) -> LoggedChange {
        LoggedChange(
            channel: channel,
            event: ChangeEvent(
                id: id, timestamp: "2026-12-02T00:00:00Z", operation: .insert, table: table, new: .object([("id", .number(String(row)))]), old: nil)
        )
    }

    func ids(_ take: Tail.Take) -> [Int64] {
        if case .changes(let entries, _, _, _) = take { return entries.map(\.id) }
        return []
    }

    func through(_ take: Tail.Take) -> Int64? {
        if case .changes(_, let through, _, _) = take { return through }
        return nil
    }

    @Test func subscribersTakeWhatTheyMayMatchAndJumpPastTheRest() throws {
        let tail = Tail(limits: .init(changes: 10_000))
        tail.start(after: 0)
        let (seven, _) = tail.register(channel: "a", request: StreamRequest(filter: try RowFilter(query: "id=eq.7")))
        let (everything, _) = tail.register(channel: "a", request: StreamRequest())
        let (other, _) = tail.register(channel: "b", request: StreamRequest())
        tail.append((1...10).map { Self.change($0, row: Int($0)) })
        let forSeven = tail.take(seven, after: 0, limit: 1000)
        #expect(ids(forSeven) == [7] && through(forSeven) == 10)
        #expect(ids(tail.take(everything, after: 0, limit: 1000)) == Array(1...10))
        #expect(ids(tail.take(everything, after: 0, limit: 4)) == [1, 2, 3, 4])
        let forOther = tail.take(other, after: 0, limit: 1000)
        #expect(ids(forOther).isEmpty && through(forOther) == 10)
        // Past the hint limit, a subscriber scans instead, and still gets everything in order.
        let many = (11...2100).map { Self.change(Int64($0), row: 7) }
        tail.append(Array(many))
        var cursor: Int64 = 10
        var got: [Int64] = []
        while cursor < 2100, case .changes(let entries, let next, _, _) = tail.take(seven, after: cursor, limit: 1000) {
            got += entries.map(\.id)
            cursor = next
        }
        #expect(got == Array(11...2100))
    }

    @Test func aCursorOlderThanTheTailReadsTheLog() {
        let tail = Tail(limits: .init(changes: 5))
        tail.start(after: 100)
        let (id, live) = tail.register(channel: "a", request: StreamRequest())
        #expect(live == 100)
        guard case .readLog = tail.take(id, after: 50, limit: 10) else {
            Issue.record("expected readLog")
            return
        }
        tail.append((101...120).map { Self.change($0, row: Int($0)) })
        guard case .readLog = tail.take(id, after: 110, limit: 10) else {
            Issue.record("expected readLog after eviction")
            return
        }
        #expect(ids(tail.take(id, after: 115, limit: 10)) == [116, 117, 118, 119, 120])
    }

    @Test func anIdleFilteredStreamIsServedFromHintsAfterTheTailMovedOn() throws {
        let tail = Tail(limits: .init(changes: 5))
        let (early, _) = tail.register(channel: "a", request: StreamRequest(filter: try RowFilter(query: "id=eq.7")))
        tail.start(after: 100)
        // Registered before the listener started: changes up to 100 were never hinted.
        guard case .readLog = tail.take(early, after: 50, limit: 10) else {
            Issue.record("expected readLog before start")
            return
        }
        let (seven, _) = tail.register(channel: "a", request: StreamRequest(filter: try RowFilter(query: "id=eq.7")))
        tail.append((101...120).map { Self.change($0, row: 1000 + Int($0)) })
        tail.append([Self.change(121, row: 7)])
        // Its cursor (100) is older than the Tail (116...121), but nothing it could match was missed.
        let take = tail.take(seven, after: 100, limit: 10)
        #expect(ids(take) == [121] && through(take) == 121)
        // A hinted change that was evicted before it was taken sends it to the log.
        tail.append([Self.change(122, row: 7)])
        tail.append((123...130).map { Self.change($0, row: 1000 + Int($0)) })
        guard case .readLog = tail.take(seven, after: 121, limit: 10) else {
            Issue.record("expected readLog for an evicted hint")
            return
        }
    }

    @Test func appendWakesAWaitingSubscriberAndEndStopsIt() async throws {
        let tail = Tail()
        tail.start(after: 0)
        let (id, _) = tail.register(channel: "a", request: StreamRequest())
        // Whether the append comes before the wait begins or after, the wait returns.
        async let woken: Void = tail.wait(id)
        tail.append([Self.change(1, row: 1)])
        await woken
        #expect(ids(tail.take(id, after: 0, limit: 10)) == [1])
        tail.end(id)
        await tail.wait(id)
        guard case .ended = tail.take(id, after: 1, limit: 10) else {
            Issue.record("expected ended")
            return
        }
    }

    /// A stream that resumed before the listener connected waited for the next change, though the
    /// listener's start put changes after its cursor in the log: `start` must wake it to read them.
    @Test func startWakesAStreamWhoseCursorIsNowBehindTheTail() async throws {
        let tail = Tail()
        let (id, live) = tail.register(channel: "a", request: StreamRequest())
        #expect(live == nil)
        // Resuming after 3, before the listener started: nothing in memory yet, so it waits.
        guard case .changes(let none, _, true, _) = tail.take(id, after: 3, limit: 10), none.isEmpty else {
            Issue.record("expected an empty, caught-up take before the start")
            return
        }
        let woken = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                await tail.wait(id)
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                return false
            }
            // The listener starts after 6: changes 4...6 are in the log only.
            tail.start(after: 6)
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        #expect(woken, "start did not wake a subscriber whose cursor it left behind")
        guard case .readLog = tail.take(id, after: 3, limit: 10) else {
            Issue.record("expected readLog after the start")
            return
        }
    }
}
