/// The position of a reader in the change stream: the id of the last change it delivered.
///
/// Live notifications and catch-up reads from the log overlap after every (re)connect; the
/// cursor admits each id once and in increasing order, so consumers see no duplicate. Gaps
/// are the caller's to close by reading the log from ``lastID``.
public struct DeliveryCursor: Equatable, Sendable {
    /// The id of the newest change delivered, or the `since` the reader started from.
    public private(set) var lastID: Int64

    public init(after id: Int64) { self.lastID = id }

    /// True when `id` is newer than everything delivered so far.
    public func isNew(_ id: Int64) -> Bool { id > lastID }

    /// Records that `id` was delivered. Ids only move forward.
    public mutating func delivered(_ id: Int64) {
        lastID = max(lastID, id)
    }
}

/// Reconnect delays: doubling from `initial` up to `maximum`, back to `initial` after a success.
public struct Backoff: Equatable, Sendable {
    public var initial: Double
    public var maximum: Double
    private var next: Double

    public init(initial: Double = 0.1, maximum: Double = 5) {
        self.initial = initial
        self.maximum = maximum
        self.next = initial
    }

    /// The delay before the next attempt, in seconds.
    public mutating func nextDelay() -> Double {
        defer { next = min(next * 2, maximum) }
        return next
    }

    public mutating func reset() { next = initial }
}
