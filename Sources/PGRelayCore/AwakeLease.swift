/// The idle rule of `auto` notify mode, for one reader of the log (a relay's listener, `pgrelay
/// listen`): when it holds the lease that tells writers not to NOTIFY, and when it may sleep.
///
/// Writers in `auto` mode send a NOTIFY only when the lease in `realtime.awake_until` has passed
/// (`realtime.relays_asleep()`), and they look only after writing their log row. A reader that
/// finds changes renews the lease (`realtime.stay_awake`) and polls at its busy rate. Once its
/// lease has passed with nothing found, a writer may still be in flight that looked while the
/// lease held and so sent no NOTIFY: the reader lists the transactions that hold a write lock on
/// `realtime.log` (every such writer is among them until it ends), keeps polling at its busy rate
/// until all of them have ended, reads once more, and only then sleeps. Pure: the caller runs the
/// queries that ``Next`` names and reports back.
public struct AwakeLease: Equatable, Sendable {
    public enum Phase: Equatable, Sendable {
        /// Polling at the idle rate; writers wake it with a NOTIFY.
        case asleep
        /// Holding the lease until `until` (this reader's clock, seconds): polling at the busy rate.
        case awake(until: Double)
        /// The lease has passed: polling at the busy rate until the listed writers have ended.
        case draining
        /// The writers have ended: one more read, then asleep.
        case lastLook
    }

    /// What the caller does after a round.
    public enum Next: Equatable, Sendable {
        case nothing
        /// Extend the lease (`realtime.stay_awake(seconds)`), then call ``renewed(now:)``.
        case renewLease
        /// List the transactions writing to the log now, then ``writers(pending:)``.
        case listWriters
        /// See whether any listed transaction is still running, then ``writers(pending:)``.
        case checkWriters
    }

    public private(set) var phase: Phase = .asleep
    /// How long a lease lasts, in seconds.
    public let seconds: Double
    /// A lease with less than this left is renewed at the next round that finds changes.
    public let renewBefore: Double

    public init(seconds: Double = 2, renewBefore: Double = 1) {
        self.seconds = seconds
        self.renewBefore = min(renewBefore, seconds)
    }

    /// Whether the reader polls at its busy rate (anything but asleep).
    public var pollsBusy: Bool { phase != .asleep }

    /// After a round that found changes or not, at `now` (a monotonic clock, seconds).
    public mutating func afterRound(foundChanges: Bool, now: Double) -> Next {
        if foundChanges {
            if case .awake(let until) = phase, until - now >= renewBefore { return .nothing }
            return .renewLease
        }
        switch phase {
        case .asleep:
            return .nothing
        case .awake(let until):
            guard now >= until else { return .nothing }
            phase = .draining
            return .listWriters
        case .draining:
            return .checkWriters
        case .lastLook:
            phase = .asleep
            return .nothing
        }
    }

    /// The lease was extended by a statement whose answer arrived at `now`: the database set its
    /// end from its own clock before that, so `now + seconds` is no earlier than the real end.
    public mutating func renewed(now: Double) {
        phase = .awake(until: now + seconds)
    }

    /// What listing or checking the log's writers found.
    public mutating func writers(pending: Bool) {
        if phase == .draining, !pending { phase = .lastLook }
    }

    /// A new connection after a lost one: a lease this reader held may still be in force, and
    /// writers that saw it may still be in flight, so it drains again before it sleeps.
    public mutating func reconnected(now: Double) {
        switch phase {
        case .asleep: return
        case .awake(let until): phase = .awake(until: max(until, now))
        case .draining, .lastLook: phase = .awake(until: now)
        }
    }
}
