import Foundation
import PGRelayCore
import PGRelayPostgres
import Synchronization

/// The newest changes in memory, shared by every subscriber, and who is waiting for what.
///
/// The listener appends each page it reads from the log; the Tail keeps the newest of them
/// (bounded by count and by bytes) and wakes the subscribers they may concern. A subscriber is a
/// cursor: it takes what is after its cursor (``take(_:after:limit:)``) and, when its cursor is
/// older than the Tail, reads the log instead; nobody is queued for, and nobody is closed for
/// being slow.
///
/// So that a change costs what it matches, each append looks up the subscribers of its channel
/// in a ``FilterIndex`` and leaves them a *hint*, the change's id; a subscriber that was not
/// hinted knows that nothing it could match arrived, and its cursor jumps to the Tail's end. Hints
/// are bounded per subscriber: past ``hintLimit`` it scans the Tail from its cursor instead.
public final class Tail: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Most changes kept in memory. Default 10,000.
        public var changes: Int
        /// Most bytes kept in memory, roughly (decoded rows and their encodings). Default 64 MiB.
        public var bytes: Int

        public init(changes: Int = 10_000, bytes: Int = 64 << 20) {
            self.changes = changes
            self.bytes = bytes
        }
    }

    /// What ``take(_:after:limit:)`` found for a subscriber.
    public enum Take: Sendable {
        /// Changes after the cursor that the subscriber may want (its filter decides), and the id
        /// its cursor moves to. `caughtUp`: the cursor reaches the Tail's end.
        case changes([TailEntry], through: Int64, caughtUp: Bool, keepAlive: Bool)
        /// The cursor is older than the Tail: read the log after it.
        case readLog
        /// Unsubscribed, or the relay is shutting down.
        case ended
        /// The cursor is an id of a history the database lost (``reset(_:)``): the subscriber must reload.
        case historyLost(HistoryBoundary)
    }

    public typealias SubscriberID = UInt64
    /// Most hints kept for one subscriber before it scans the Tail instead.
    static let hintLimit = 1024

    public let limits: Limits
    private let state: Mutex<State>

    public init(limits: Limits = Limits()) {
        self.limits = limits
        self.state = Mutex(State())
    }

    struct Subscriber {
        let channel: String
        let events: EventSet
        /// Candidate ids after `hintsSince`, in id order; complete unless `overflowed`.
        var hints: [Int64] = []
        var hintsSince: Int64
        var overflowed = false
        /// A wake-up arrived while the subscriber was not waiting.
        var signaled = false
        var keepAliveDue = false
        /// When its next keep-alive is due (seconds, monotonic): spread over the interval, so that
        /// 10,000 idle streams do not all write at once and hold up the changes behind them.
        var keepAliveAt: Double = 0
        var ended = false
        var waiter: CheckedContinuation<Void, Never>?

        mutating func resetHints(at id: Int64) {
            hints.removeAll(keepingCapacity: false)
            hintsSince = id
            overflowed = false
        }

        /// Notes a new entry of its channel (unless its events leave it out) and wakes it; returns
        /// the continuation to resume, outside the lock.
        mutating func hint(_ entry: TailEntry, limit: Int) -> CheckedContinuation<Void, Never>? {
            if let event = entry.event, event.operation != .schema, !events.operations.contains(event.operation) { return nil }
            if !overflowed {
                if hints.count < limit {
                    hints.append(entry.id)
                } else {
                    overflowed = true
                    hints.removeAll()
                }
            }
            return signal()
        }

        /// Marks the subscriber woken; returns the continuation to resume, outside the lock.
        mutating func signal() -> CheckedContinuation<Void, Never>? {
            signaled = true
            defer { waiter = nil }
            return waiter
        }
    }

    struct State {
        /// Kept entries are `entries[start...]`, oldest first, ids increasing.
        var entries: [TailEntry] = []
        var start = 0
        var bytes = 0
        /// Every change up to this id has been appended (the listener's position).
        var through: Int64 = 0
        /// Changes up to this id are no longer (or were never) in memory.
        var evictedThrough: Int64 = 0
        var started = false
        var closed = false
        var nextID: SubscriberID = 0
        var subscribers: [SubscriberID: Subscriber] = [:]
        var byChannel: [String: FilterIndex<SubscriberID>] = [:]
        /// Histories the database lost while this relay read it (``reset(_:)``), newest last.
        var boundaries: [HistoryBoundary] = []

        var count: Int { entries.count - start }

        /// Index in `entries` of the first entry with an id after `id`.
        func firstIndex(after id: Int64) -> Int {
            var low = start
            var high = entries.count
            while low < high {
                let mid = (low + high) / 2
                if entries[mid].id <= id { low = mid + 1 } else { high = mid }
            }
            return low
        }

        func entry(id: Int64) -> TailEntry? {
            let index = firstIndex(after: id - 1)
            return index < entries.count && entries[index].id == id ? entries[index] : nil
        }

        mutating func evict(limits: Limits) {
            while count > 0, count > limits.changes || bytes > limits.bytes {
                let oldest = entries[start]
                bytes -= oldest.bytes
                evictedThrough = oldest.id
                start += 1
            }
            if start > 1024, start * 2 > entries.count {
                entries.removeFirst(start)
                start = 0
            }
        }
    }

    // MARK: The listener's side

    /// Called when the listener first connects: changes up to `id` are in the log, not here.
    /// Wakes every subscriber: one that resumed before the start may wait with a cursor older
    /// than `id`, and the changes between are in the log, not on their way here.
    public func start(after id: Int64) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.started else { return [] }
            state.started = true
            state.through = max(state.through, id)
            state.evictedThrough = max(state.evictedThrough, id)
            // Changes up to `id` were never hinted to anyone: hints are complete from here.
            var woken: [CheckedContinuation<Void, Never>] = []
            for key in state.subscribers.keys {
                state.subscribers[key]!.hintsSince = max(state.subscribers[key]!.hintsSince, id)
                if let waiter = state.subscribers[key]!.signal() { woken.append(waiter) }
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Appends one page of changes (in id order, after everything appended so far) and wakes the
    /// subscribers they may concern.
    public func append(_ page: [LoggedChange]) {
        append(entries: page.map(TailEntry.init))
    }

    /// Appends one page the listener read: its changes and messages, merged into id order. The
    /// entries are encoded before the lock is taken, letting other tasks run every few
    /// milliseconds: a page of 1,000 changes to encode held a thread of the cooperative pool (one
    /// per core) for as long as that took, and every socket's replies waited behind it.
    public func append(_ page: Listener.Page) async {
        if let boundary = page.reset { reset(boundary) }
        append(entries: await TailEntry.merged(page))
    }

    /// The database lost ids this relay had read (a promoted standby, a restore): entries after
    /// the boundary's last shared id are dropped, the Tail continues from that id, and every
    /// subscriber is woken: one whose cursor is an id of the lost history is told to reload
    /// (``Take/historyLost(_:)``), the others read on into the new history.
    public func reset(_ boundary: HistoryBoundary) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.boundaries.append(boundary)
            let kept = state.firstIndex(after: boundary.lostAfter)
            for entry in state.entries[kept...] { state.bytes -= entry.bytes }
            state.entries.removeSubrange(kept...)
            state.through = min(state.through, boundary.lostAfter)
            // Changes up to the boundary not in memory stay so: a cursor older reads the log.
            state.evictedThrough = min(state.evictedThrough, boundary.lostAfter)
            var woken: [CheckedContinuation<Void, Never>] = []
            for key in state.subscribers.keys {
                // Hints may name lost ids: each scans from its cursor instead.
                state.subscribers[key]!.hints.removeAll()
                state.subscribers[key]!.overflowed = true
                if let waiter = state.subscribers[key]!.signal() { woken.append(waiter) }
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    private func append(entries: [TailEntry]) {
        guard !entries.isEmpty else { return }
        let woken: [CheckedContinuation<Void, Never>] = state.withLock { state in
            var woken: [CheckedContinuation<Void, Never>] = []
            for entry in entries where entry.id > state.through {
                state.entries.append(entry)
                state.bytes += entry.bytes
                state.through = entry.id
                guard let index = state.byChannel[entry.channel] else { continue }
                // An UPDATE concerns those its old row matched too: it may leave their view.
                // A message concerns every subscriber of its channel (they have no row filter).
                let everyone = entry.event?.operation == .truncate || entry.event?.operation == .schema
                var candidates = everyone ? index.everyone : index.candidates(for: entry.event?.row)
                if let event = entry.event, event.operation == .update, event.old != nil {
                    candidates = Array(Set(candidates).union(index.candidates(for: event.old)))
                }
                for id in candidates {
                    // In place (not a copy written back), so that its hints are appended to, not copied.
                    if let waiter = state.subscribers[id]?.hint(entry, limit: Self.hintLimit) { woken.append(waiter) }
                }
            }
            state.evict(limits: limits)
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Asks each stream whose keep-alive is due at `now` (monotonic seconds) to send one; the
    /// next is due `interval` later. Call it often (every 100 ms): each call wakes only those due.
    public func keepAlive(now: Double, interval: Double) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            // In place, by index: no copy of the subscribers, one pass.
            var index = state.subscribers.values.startIndex
            while index != state.subscribers.values.endIndex {
                defer { index = state.subscribers.values.index(after: index) }
                let due = state.subscribers.values[index].keepAliveAt
                guard due <= now else { continue }
                if due == 0 {
                    // First sight: a random phase within the interval.
                    state.subscribers.values[index].keepAliveAt = now + Double.random(in: 0.5...1) * interval
                    continue
                }
                state.subscribers.values[index].keepAliveAt = now + interval
                state.subscribers.values[index].keepAliveDue = true
                if let waiter = state.subscribers.values[index].signal() { woken.append(waiter) }
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Ends every stream (graceful shutdown); later subscribers end at once.
    public func closeAll() {
        let woken = state.withLock { state in
            state.closed = true
            return state.subscribers.keys.compactMap { state.subscribers[$0]!.signal() }
        }
        for waiter in woken { waiter.resume() }
    }

    // MARK: The subscribers' side

    /// Registers a subscriber of `channel` and returns its id and the cursor it is live from: the
    /// Tail's end, or nil before the listener has started (ask the log for its newest id then).
    public func register(channel: String, request: StreamRequest) -> (SubscriberID, Int64?) {
        state.withLock { state in
            state.nextID += 1
            let id = state.nextID
            state.subscribers[id] = Subscriber(channel: channel, events: request.events, hintsSince: state.through, ended: state.closed)
            state.byChannel[channel, default: FilterIndex()].insert(id, filter: request.filter)
            return (id, state.started ? state.through : nil)
        }
    }

    public func unregister(_ id: SubscriberID) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard var subscriber = state.subscribers.removeValue(forKey: id) else { return nil }
            state.byChannel[subscriber.channel]?.remove(id)
            if state.byChannel[subscriber.channel]?.isEmpty == true { state.byChannel[subscriber.channel] = nil }
            return subscriber.signal()
        }
        waiter?.resume()
    }

    /// Ends one subscriber's loop (a WebSocket unsubscribe); it unregisters itself.
    public func end(_ id: SubscriberID) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.subscribers[id]?.ended = true
            return state.subscribers[id]?.signal()
        }
        waiter?.resume()
    }

    /// Wakes one subscriber's loop without ending it: something besides the log is for it
    /// (ephemeral events in its inbox).
    public func wake(_ id: SubscriberID) {
        let waiter = state.withLock { $0.subscribers[id]?.signal() }
        waiter?.resume()
    }

    /// Wakes every subscriber's loop: the tables' columns changed, and a loop whose filter no
    /// longer fits ends at once (a loop with nothing new waits again).
    public func wakeAll() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for key in state.subscribers.keys {
                if let waiter = state.subscribers[key]!.signal() { woken.append(waiter) }
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// What the subscriber `id`, whose cursor is `cursor`, should deliver next: at most `limit` entries.
    public func take(_ id: SubscriberID, after cursor: Int64, limit: Int) -> Take {
        state.withLock { state in
            guard var subscriber = state.subscribers[id], !subscriber.ended, !state.closed else { return .ended }
            if let boundary = state.boundaries.last(where: { $0.lost(cursor) }) { return .historyLost(boundary) }
            // Everything it could match after `hintsSince` up to the Tail's end was hinted: its
            // cursor may be older than the Tail (an `id=eq.N` stream idle while thousands of
            // other changes passed) and still be served from memory, as long as every hinted
            // change is kept. Without this, each idle filtered stream read the log when its
            // change finally came, and the relay's CPU per change grew with the time streams
            // had been idle.
            let hinted =
                !subscriber.overflowed && cursor >= subscriber.hintsSince && subscriber.hints.count <= limit
                && (subscriber.hints.first { $0 > cursor } ?? Int64.max) > state.evictedThrough
            guard hinted || cursor >= state.evictedThrough else { return .readLog }
            let keepAlive = subscriber.keepAliveDue
            subscriber.keepAliveDue = false
            defer { state.subscribers[id] = subscriber }
            if hinted {
                let found = subscriber.hints.filter { $0 > cursor }.compactMap(state.entry(id:))
                subscriber.resetHints(at: state.through)
                return .changes(found, through: max(cursor, state.through), caughtUp: true, keepAlive: keepAlive)
            }
            // Scan from the cursor, a bounded stretch at a time.
            var found: [TailEntry] = []
            var index = state.firstIndex(after: cursor)
            var through = cursor
            let stretch = limit * 4
            var scanned = 0
            while index < state.entries.count, found.count < limit, scanned < stretch {
                let entry = state.entries[index]
                if entry.channel == subscriber.channel { found.append(entry) }
                through = entry.id
                index += 1
                scanned += 1
            }
            let caughtUp = index == state.entries.count
            if caughtUp {
                through = max(through, state.through)
                subscriber.resetHints(at: state.through)
            }
            return .changes(found, through: through, caughtUp: caughtUp, keepAlive: keepAlive)
        }
    }

    /// Waits until something may have arrived for `id` (or it ended, or the task is cancelled).
    public func wait(_ id: SubscriberID) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    guard var subscriber = state.subscribers[id], !subscriber.ended, !state.closed, !subscriber.signaled else {
                        state.subscribers[id]?.signaled = false
                        return true
                    }
                    subscriber.waiter = continuation
                    state.subscribers[id] = subscriber
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.subscribers[id]?.signal() }
            waiter?.resume()
        }
    }

    // MARK: Figures

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    /// The listener's position: every change up to this id has reached the Tail.
    public var through: Int64 { state.withLock { $0.through } }
    public var count: Int { state.withLock { $0.count } }
}
