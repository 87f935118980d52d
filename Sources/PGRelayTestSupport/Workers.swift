import Foundation
import Synchronization

/// Runs blocking work (libpq calls) on threads of its own, off Swift's cooperative pool, which on
/// a 2-core machine has two threads: eight blocking writers there would wait for each other.
public enum Workers {
    /// Runs `body(0..<count)` on `count` threads at once and returns when all have finished;
    /// rethrows the first error any of them threw.
    public static func run(_ count: Int, name: String = "test worker", _ body: @escaping @Sendable (Int) throws -> Void) async throws {
        let state = State(remaining: count)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            state.setContinuation(continuation)
            for index in 0..<count {
                let thread = Thread {
                    var failure: Error?
                    do { try body(index) } catch { failure = error }
                    state.finished(failure)
                }
                thread.name = "\(name) \(index)"
                thread.start()
            }
        }
    }

    /// Runs one blocking call on a thread of its own and returns its value.
    public static func value<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let box = Box<T>()
        try await run(1) { _ in box.set(try body()) }
        return box.get()!
    }

    private final class Box<T: Sendable>: Sendable {
        private let value = Mutex<T?>(nil)
        func set(_ newValue: T) { value.withLock { $0 = newValue } }
        func get() -> T? { value.withLock { $0 } }
    }

    private final class State: Sendable {
        private struct Progress {
            var remaining: Int
            var failure: Error?
            var continuation: CheckedContinuation<Void, Error>?
        }
        private let progress: Mutex<Progress>

        init(remaining: Int) { progress = Mutex(Progress(remaining: remaining)) }

        func setContinuation(_ continuation: CheckedContinuation<Void, Error>) {
            let done = progress.withLock { progress -> Bool in
                progress.continuation = continuation
                return progress.remaining == 0
            }
            if done { continuation.resume() }
        }

        func finished(_ error: Error?) {
            let resume = progress.withLock { progress -> (CheckedContinuation<Void, Error>, Error?)? in
                if progress.failure == nil { progress.failure = error }
                progress.remaining -= 1
                guard progress.remaining == 0, let continuation = progress.continuation else { return nil }
                progress.continuation = nil
                return (continuation, progress.failure)
            }
            if let (continuation, failure) = resume {
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
            }
        }
    }

    /// Runs `body` with `resource`, then `stop`s it on a worker thread however `body` ends: for
    /// servers a test starts (nginx, Postgres clusters), whose stopping blocks for seconds, which a
    /// thread of the cooperative pool (shared with the relays under test) must not.
    public static func using<R: Sendable, T: Sendable>(
        _ resource: R, stop: @escaping @Sendable (R) -> Void, _ body: (R) async throws -> T
    ) async throws -> T {
        do {
            let result = try await body(resource)
            _ = try? await value { stop(resource) }
            return result
        } catch {
            _ = try? await value { stop(resource) }
            throw error
        }
    }
}
