import Synchronization

/// Lets another task end a running ``SubscriberLoop`` (graceful shutdown, a WebSocket
/// unsubscribe) whether the request to end comes before or after the loop registered.
final class SubscriberHandle: Sendable {
    private let state = Mutex<(id: Tail.SubscriberID?, ended: Bool, reason: String?)>((nil, false, nil))
    let tail: Tail

    init(tail: Tail) { self.tail = tail }

    /// Called by the loop once the Tail knows it.
    func registered(_ id: Tail.SubscriberID) {
        let endNow = state.withLock { state -> Bool in
            state.id = id
            return state.ended
        }
        if endNow { tail.end(id) }
    }

    /// - Parameter reason: what the transport tells its client, when there is something to tell
    ///   (a token that expired); the first reason given is kept.
    func end(because reason: String? = nil) {
        let id = state.withLock { state -> Tail.SubscriberID? in
            state.ended = true
            if state.reason == nil { state.reason = reason }
            return state.id
        }
        if let id { tail.end(id) }
    }

    /// Why the loop was ended, when `end(because:)` said.
    var reason: String? { state.withLock { $0.reason } }
}
