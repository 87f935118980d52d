import Synchronization

/// Lets another task end a running ``SubscriberLoop`` (graceful shutdown, a WebSocket
/// unsubscribe) whether the request to end comes before or after the loop registered.
final class SubscriberHandle: Sendable {
    private let state = Mutex<(id: Tail.SubscriberID?, ended: Bool)>((nil, false))
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

    func end() {
        let id = state.withLock { state -> Tail.SubscriberID? in
            state.ended = true
            return state.id
        }
        if let id { tail.end(id) }
    }
}
