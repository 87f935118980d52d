import Foundation
import PGRelayCore

/// Fans changes out from the one Listener to every subscriber whose table, events and row
/// filter match.
///
/// Each change is encoded once per wire format, and the bytes are shared by every subscriber
/// that receives it; filters are evaluated on the already-decoded row. Each subscriber has a
/// bounded queue: a subscriber that falls that far behind is closed (``HubSubscription/closedAsSlow``)
/// and resumes from the log by id, without slowing anyone else down.
public final class Hub: @unchecked Sendable {
    /// What a subscriber's queue carries.
    public enum Message: Sendable {
        case change(SharedChange)
        /// Time for a keep-alive on an idle stream.
        case keepAlive
    }

    private let lock = NSLock()
    /// By table, so that a change is matched only against the subscribers of its own table.
    private var subscribers: [TableName: [UInt64: HubSubscription]] = [:]
    private var count = 0
    private var nextID: UInt64 = 0
    private var newestPublished: Int64 = 0
    private var closed = false
    /// How many messages may wait for one subscriber before it is closed as slow.
    public let queueLimit: Int
    let metrics: RelayMetrics

    public init(queueLimit: Int = 1000, metrics: RelayMetrics = RelayMetrics()) {
        self.queueLimit = queueLimit
        self.metrics = metrics
    }

    /// Registers a subscriber. Live changes are queued for it from this moment, so a caller that
    /// replays the log *after* subscribing misses nothing (and skips what it already replayed by id).
    public func subscribe(table: TableName, request: StreamRequest) -> HubSubscription {
        let (stream, continuation) = AsyncStream.makeStream(of: Message.self, bufferingPolicy: .bufferingOldest(queueLimit))
        let (subscription, accepted) = lock.withLock {
            nextID += 1
            let subscription = HubSubscription(id: nextID, table: table, request: request, stream: stream, continuation: continuation, hub: self)
            guard !closed else { return (subscription, false) }
            subscribers[table, default: [:]][nextID] = subscription
            count += 1
            metrics.subscribers.record(count)
            return (subscription, true)
        }
        // Outside the lock: finishing runs the stream's termination handler, which takes it.
        if !accepted { subscription.finish() }
        return subscription
    }

    func remove(_ id: UInt64, table: TableName) {
        lock.withLock {
            guard subscribers[table]?.removeValue(forKey: id) != nil else { return }
            if subscribers[table]?.isEmpty == true { subscribers[table] = nil }
            count -= 1
            metrics.subscribers.record(count)
        }
    }

    /// Delivers one change to every matching subscriber.
    public func publish(_ event: ChangeEvent) {
        let shared = SharedChange(event)
        metrics.changesReceived.increment()
        metrics.recordLatency(sinceCommit: event.timestamp)
        let targets = lock.withLock {
            newestPublished = max(newestPublished, event.id)
            return subscribers[event.table].map { Array($0.values) } ?? []
        }
        for subscriber in targets where subscriber.request.admits(event) {
            subscriber.enqueue(.change(shared))
        }
    }

    /// Records that the listener's position is at least `id` (it starts at the newest change, and
    /// catches up after reconnects), so that `/health` reports lag from there.
    public func delivered(upTo id: Int64) {
        lock.withLock { newestPublished = max(newestPublished, id) }
    }

    /// Asks every stream to send a keep-alive if it has nothing else queued.
    public func tick() {
        for subscriber in lock.withLock({ subscribers.values.flatMap(\.values) }) {
            subscriber.enqueue(.keepAlive)
        }
    }

    /// Ends every stream (graceful shutdown); later subscribers end at once.
    public func closeAll() {
        let all = lock.withLock {
            closed = true
            defer {
                subscribers.removeAll()
                count = 0
                metrics.subscribers.record(0)
            }
            return subscribers.values.flatMap(\.values)
        }
        all.forEach { $0.finish() }
    }

    public var subscriberCount: Int { lock.withLock { count } }
    /// The id of the newest change the Hub has received from the listener.
    public var newestPublishedID: Int64 { lock.withLock { newestPublished } }
}

/// One change and its encodings, made at most once however many subscribers receive it.
public final class SharedChange: @unchecked Sendable {
    public let event: ChangeEvent
    private let lock = NSLock()
    private var sse: String?
    private var json: String?

    init(_ event: ChangeEvent) { self.event = event }

    /// The canonical JSON text, encoded on first use and shared afterwards.
    public var canonicalJSONText: String { cached(&json) { $0.canonicalJSONText } }

    /// The SSE frame, encoded on first use and shared afterwards.
    public var serverSentEvent: String { cached(&sse) { $0.serverSentEvent } }

    private func cached(_ slot: inout String?, _ encode: (ChangeEvent) -> String) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let slot { return slot }
        let encoded = encode(event)
        slot = encoded
        return encoded
    }
}
