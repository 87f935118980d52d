/// What a subscribed table's capture triggers announce with NOTIFY (`pgrelay subscribe --notify`).
///
/// NOTIFY is never needed for correctness: the relay reads the log, whatever the payload says.
/// It takes a cluster-wide lock at commit, which is why it is a choice per table.
public enum NotifyMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The default: one empty NOTIFY on the table's channel per transaction, sent only while every
    /// relay sleeps (no relay holds the lease in `realtime.awake_until`). Under load relays poll
    /// every 10 ms and hold the lease, so no writer takes NOTIFY's commit lock; an idle relay is
    /// woken at once by the first change.
    case auto
    /// One empty NOTIFY on the table's channel per transaction (identical notifications fold):
    /// the relay ticks at once instead of at its next poll.
    case wake
    /// One NOTIFY per change with `{"timestamp","operation","schema","table","new","old"}`, for raw
    /// LISTENers such as psql; no id in it.
    case payload
    /// No NOTIFY: writers pay least; the relay finds changes by polling (10 ms while they flow).
    case off

    public static let `default` = NotifyMode.auto

    /// Parses `auto`, `wake`, `payload` or `off` (any case); the error says what to use instead.
    public init(parsing text: String) throws {
        guard let mode = NotifyMode(rawValue: text.lowercased()) else {
            throw NotifyModeError(text: text)
        }
        self = mode
    }

    public var description: String { rawValue }
}

public struct NotifyModeError: Error, CustomStringConvertible, Equatable {
    public var text: String
    public var description: String { "unknown notify mode '\(text)'; use auto, wake, payload or off" }
}
