/// How long a reader waits between ticks when no NOTIFY wakes it.
///
/// While changes flow it polls every `interval` (10 ms by default); asleep, every `idleInterval`
/// (250 ms: at most 4 ticks a second). With schema version 12 the reader follows ``AwakeLease``:
/// `interval` while it holds the lease or drains, `idleInterval` otherwise. On an older schema,
/// after `idleGrace` seconds without a change it backs off, doubling up to `idleInterval`, and
/// returns to `interval` at the next change. A NOTIFY ends any wait at once.
public struct PollSchedule: Equatable, Sendable {
    public var interval: Double
    public var idleInterval: Double
    public var idleGrace: Double
    /// How long a lease this reader takes lasts, in seconds (``AwakeLease/seconds``). Writers
    /// that look within it send no NOTIFY; the reader drains them after it passes.
    public var leaseSeconds: Double
    /// Seconds since the last poll that found changes.
    private var idleFor: Double = 0
    private var current: Double

    public init(interval: Double = 0.01, idleInterval: Double = 0.25, idleGrace: Double = 1, leaseSeconds: Double = 2) {
        self.interval = interval
        self.idleInterval = max(idleInterval, interval)
        self.idleGrace = idleGrace
        self.leaseSeconds = leaseSeconds
        self.current = interval
    }

    /// The wait before the next poll.
    public var nextWait: Double { current }

    /// Records what the last poll found.
    public mutating func polled(foundChanges: Bool) {
        if foundChanges {
            idleFor = 0
            current = interval
        } else {
            idleFor += current
            if idleFor >= idleGrace { current = min(current * 2, idleInterval) }
        }
    }
}
