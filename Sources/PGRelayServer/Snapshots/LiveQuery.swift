import PGRelayCore
import PGRelayPostgres

/// A live query's snapshot, and the stream of changes that follows it from the cut.
struct LiveQuery: Sendable {
    let snapshots: LiveSnapshots
    let subscription: Subscription
    let request: StreamRequest
    /// Closes the client's connection when the snapshot outlives its deadline.
    let close: @Sendable () -> Void
    let makeLoop: @Sendable (StreamRequest) -> SubscriberLoop

    /// The subscriber loop of the changes after the cut.
    func loop(after id: Int64) -> SubscriberLoop {
        var changes = request
        changes.snapshot = false
        changes.since = id
        return makeLoop(changes)
    }
}
