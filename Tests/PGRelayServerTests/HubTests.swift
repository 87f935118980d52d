import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct HubTests {
    let orders = TableName(schema: "public", name: "orders")

    func change(_ id: Int64, status: String, operation: PGRelayCore.Operation = .insert) -> ChangeEvent {
        ChangeEvent(id: id, timestamp: "T", operation: operation, table: orders, new: .object([("status", .string(status))]), old: nil)
    }

    /// A subscriber that stops reading is closed once its queue is full; the others get everything.
    @Test func aSlowSubscriberIsClosedWithoutHurtingOthers() async throws {
        let hub = Hub(queueLimit: 3)
        let slow = hub.subscribe(table: orders, request: StreamRequest())
        let fast = hub.subscribe(table: orders, request: StreamRequest())
        var received: [Int64] = []
        for id in 1...10 {
            hub.publish(change(Int64(id), status: "x"))
            for await message in fast.messages {
                if case .change(let shared) = message { received.append(shared.event.id) }
                break
            }
        }
        #expect(received == Array(1...10))
        #expect(slow.closedAsSlow && !fast.closedAsSlow)
        var queued: [Int64] = []
        for await message in slow.messages { if case .change(let shared) = message { queued.append(shared.event.id) } }
        #expect(queued == [1, 2, 3])
        #expect(hub.subscriberCount == 1)
    }

    @Test func matchesTableEventsAndFilterAndSharesEncodings() async throws {
        let hub = Hub()
        let paid = hub.subscribe(table: orders, request: try StreamRequest(query: "status=eq.paid&events=INSERT"))
        let other = hub.subscribe(table: TableName(schema: "public", name: "items"), request: StreamRequest())
        hub.publish(change(1, status: "open"))
        hub.publish(change(2, status: "paid", operation: .update))
        hub.publish(change(3, status: "paid"))
        hub.closeAll()
        var ids: [Int64] = []
        for await message in paid.messages { if case .change(let shared) = message { ids.append(shared.event.id) } }
        #expect(ids == [3])
        var none = 0
        for await _ in other.messages { none += 1 }
        #expect(none == 0)
    }

    /// After shutdown, a new subscriber's stream ends at once (and subscribing does not deadlock).
    @Test func subscribersAfterCloseAllEndAtOnce() async {
        let hub = Hub()
        hub.closeAll()
        let late = hub.subscribe(table: orders, request: StreamRequest())
        var count = 0
        for await _ in late.messages { count += 1 }
        #expect(count == 0 && hub.subscriberCount == 0)
    }
}
