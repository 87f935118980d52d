import Synchronization

/// How many subscribers read the log at once (catch-up and replay), so that memory stays bounded
/// whatever clients do: a subscriber behind the Tail holds one page (at most
/// ``PGRelayPostgres/ChangeLog/pageBytes`` of records) while it reads and delivers it, and a
/// client that stops reading keeps its page until it reads again. With `limits.concurrent_replays`
/// slots, at most that many pages are held. A replay beyond them waits its turn with its stream
/// open (it is not refused: a browser's EventSource does not retry a refused stream, and a relay
/// restart makes every client replay at once). Waiting is first come, first served.
final class ReplaySlots: Sendable {
    private struct State {
        var free: Int
        var waiting: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
        var nextID: UInt64 = 0
    }

    let count: Int
    private let state: Mutex<State>

    init(count: Int) {
        self.count = count
        state = Mutex(State(free: count))
    }

    /// Subscribers waiting for a slot, for `/health`.
    var waiting: Int { state.withLock { $0.waiting.count } }

    /// Runs `body` holding a slot; waits for one first when all are taken.
    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async throws {
        let id: UInt64? = state.withLock { state in
            if state.free > 0 {
                state.free -= 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                // A slot may have been freed since the check above: take it, or queue, in one step.
                let start: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    if state.free > 0 {
                        state.free -= 1
                        return true
                    }
                    state.waiting.append((id, continuation))
                    return nil
                }
                switch start {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let removed = state.withLock { state in
                state.waiting.firstIndex { $0.id == id }.map { state.waiting.remove(at: $0).continuation }
            }
            removed?.resume(throwing: CancellationError())
        }
    }

    /// Hands the slot to the first waiter, or frees it.
    private func release() {
        let next = state.withLock { state in
            if state.waiting.isEmpty {
                state.free += 1
                return nil as CheckedContinuation<Void, Error>?
            }
            return state.waiting.removeFirst().continuation
        }
        next?.resume()
    }
}
